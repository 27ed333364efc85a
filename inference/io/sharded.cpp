// Sharded checkpoints: an index.json whose "weight_map" assigns every tensor name to a shard file in the
// same folder. Each shard is read by its format reader, then checked to hold exactly the tensors the
// index assigns to it, so a stale index or a wrong shard is reported instead of loading a mix.
#include <map>
#include <set>
#include <string>

#include "io/checkpoint.h"
#include "io/json_util.h"
#include "io/reader_util.h"

namespace tessera {

namespace {

// Shard names come from the file; refuse anything that could leave the checkpoint folder.
bool plain_file_name(const std::string& s) {
    return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
           s.find('\\') == std::string::npos && s.find('\0') == std::string::npos;
}

Status read_sharded_impl(const std::filesystem::path& index_json, Checkpoint& out) {
    const std::string label = index_json.filename().string();
    TESSERA_ASSIGN(nlohmann::json index, read_json_file(index_json, JsonParseOptions{.reject_duplicate_keys = true}));
    if (!index.is_object()) return make_error(ErrorCode::Format, label + ": must be a JSON object");
    auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object())
        return make_error(ErrorCode::Format, label + ": missing or non-object 'weight_map'");

    // shard -> tensor names, in shard-name order (which is the order the shards were written).
    std::map<std::string, std::set<std::string>> by_shard;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
        if (!it.value().is_string())
            return make_error(ErrorCode::Format, label + ": weight_map entry '" + it.key() + "' must be a file name");
        const std::string shard = it.value().get<std::string>();
        if (!plain_file_name(shard))
            return make_error(ErrorCode::Format, label + ": weight_map entry '" + it.key() + "' names '" + shard +
                                                     "', which is not a file in the checkpoint folder");
        by_shard[shard].insert(it.key());
    }
    if (by_shard.empty()) return make_error(ErrorCode::Format, label + ": weight_map is empty");

    const std::filesystem::path dir = index_json.parent_path();
    for (const auto& [shard, names] : by_shard) {
        const std::filesystem::path path = dir / shard;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec))
            return make_error(ErrorCode::Io, label + ": shard '" + shard + "' (holding '" + *names.begin() + "' and " +
                                                 std::to_string(names.size() - 1) + " more) does not exist");
        const size_t before = out.tensors().size();
        if (shard.ends_with(".safetensors")) {
            TESSERA_TRY(read_safetensors_file(path, out));
        } else if (shard.ends_with(".bin") || shard.ends_with(".pt") || shard.ends_with(".pth")) {
            TESSERA_TRY(read_pytorch_file(path, out));
        } else {
            return make_error(ErrorCode::Unsupported, label + ": shard '" + shard + "' has an unknown file type");
        }

        std::set<std::string> found;
        for (size_t i = before; i < out.tensors().size(); ++i) {
            const std::string& name = out.tensors()[i].name;
            if (!names.count(name))
                return make_error(ErrorCode::Format, name + ": found in " + shard + " but " + label +
                                                         " does not assign it to that shard");
            found.insert(name);
        }
        for (const std::string& name : names)
            if (!found.count(name))
                return make_error(ErrorCode::Format, name + ": " + label + " assigns it to " + shard +
                                                         ", which does not contain it");
    }
    return {};
}

}  // namespace

Status read_sharded(const std::filesystem::path& index_json, Checkpoint& out) {
    return exception_guard(index_json.filename().string(), [&] { return read_sharded_impl(index_json, out); });
}

}  // namespace tessera
