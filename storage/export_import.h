// Export and import. JSON exports are lossless: every branch of every message with all its fields,
// attachment links, grounding boxes, generated images, settings, and the attachment bytes themselves
// (base64, checked by SHA-256 on import). Markdown exports are for reading: the shown thread of each
// conversation, images copied beside the .md files.
//
// Import runs in one transaction (all or nothing) after the whole file has been validated, and never
// replaces existing data silently: a conversation or generated image whose uuid already exists, or a
// setting with another value, is handled by the chosen ConflictPolicy and reported.
// Thread use: as the Database (one thread at a time).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/attachment_store.h"
#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

inline constexpr const char* k_export_format = "tessera.export";
inline constexpr int k_export_version = 1;

struct ExportOptions {
    bool include_images = true;            // attachment bytes embedded (else only hashes and metadata)
    bool include_generated_images = true;  // only for export_all
    bool include_settings = true;          // only for export_all
};

// One conversation, or everything.
Result<nlohmann::json> export_conversation_json(Database& db, AttachmentStore& store, Id conversation_id,
                                                const ExportOptions& options = {});
Result<nlohmann::json> export_all_json(Database& db, AttachmentStore& store, const ExportOptions& options = {});
// Writes the JSON atomically (temporary file, then rename).
Status write_json_file(const std::filesystem::path& path, const nlohmann::json& document);

enum class ConflictPolicy {
    Skip,      // keep what is there, skip the incoming item (default)
    KeepBoth,  // import the incoming conversation/image as a new one (new uuid)
    Replace,   // delete the existing conversation/image and import the incoming one; settings overwritten
    Fail,      // import nothing and report the conflicts as an error
};

struct ImportOptions {
    ConflictPolicy on_conflict = ConflictPolicy::Skip;
    bool import_settings = true;
};

struct ImportReport {
    int conversations_imported = 0;
    int conversations_skipped = 0;
    int conversations_replaced = 0;
    int messages_imported = 0;
    int attachments_imported = 0;  // distinct files newly stored
    int generated_images_imported = 0;
    int generated_images_skipped = 0;
    int settings_imported = 0;
    int settings_skipped = 0;
    std::vector<std::string> conflicts;  // one line per conflict, naming the item and what was done
};

Result<ImportReport> import_json(Database& db, AttachmentStore& store, const nlohmann::json& document,
                                 const ImportOptions& options = {});
// Reads and parses the file first; a file that is not JSON, or not a Tessera export, is an error.
Result<ImportReport> import_json_file(Database& db, AttachmentStore& store, const std::filesystem::path& path,
                                      const ImportOptions& options = {});

struct MarkdownImage {
    std::string relative_path;          // as linked from the Markdown, e.g. images/<sha256>.png
    std::filesystem::path source_path;  // the stored attachment file
};

struct MarkdownDocument {
    std::string file_name;  // suggested: a readable slug of the title plus the id, ending in .md
    std::string text;
    std::vector<MarkdownImage> images;
};

// The shown thread of one conversation as Markdown (reasoning in a collapsed <details> block, images as
// links, grounding boxes listed under their message).
Result<MarkdownDocument> export_conversation_markdown(Database& db, AttachmentStore& store, Id conversation_id);
// Writes one .md per conversation (or just the one given) into `folder`, images in folder/images.
Status write_markdown_export(Database& db, AttachmentStore& store, const std::filesystem::path& folder,
                             std::optional<Id> conversation_id = std::nullopt);

}  // namespace tessera::storage
