// Names of the enum values as stored in the database, and UUID generation.
#include "storage/types.h"

#include <cstdio>
#include <random>

#include <sys/random.h>

namespace tessera::storage {

const char* role_name(Role role) {
    switch (role) {
        case Role::System: return "system";
        case Role::User: return "user";
        case Role::Assistant: return "assistant";
    }
    return "user";
}

std::optional<Role> role_from_name(std::string_view name) {
    if (name == "system") return Role::System;
    if (name == "user") return Role::User;
    if (name == "assistant") return Role::Assistant;
    return std::nullopt;
}

const char* status_name(MessageStatus status) {
    switch (status) {
        case MessageStatus::Streaming: return "streaming";
        case MessageStatus::Complete: return "complete";
        case MessageStatus::Interrupted: return "interrupted";
        case MessageStatus::Error: return "error";
    }
    return "complete";
}

std::optional<MessageStatus> status_from_name(std::string_view name) {
    if (name == "streaming") return MessageStatus::Streaming;
    if (name == "complete") return MessageStatus::Complete;
    if (name == "interrupted") return MessageStatus::Interrupted;
    if (name == "error") return MessageStatus::Error;
    return std::nullopt;
}

std::string new_uuid() {
    // Fresh kernel randomness for every UUID: a seeded generator would repeat itself in every process
    // forked from one parent, and uniqueness is what import conflicts key on.
    std::uint64_t words[2] = {0, 0};
    if (getrandom(words, sizeof words, 0) != static_cast<ssize_t>(sizeof words)) {
        std::random_device rd;
        words[0] = (std::uint64_t(rd()) << 32) ^ rd();
        words[1] = (std::uint64_t(rd()) << 32) ^ rd();
    }
    std::uint64_t hi = words[0], lo = words[1];
    hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 10
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(hi >> 32), unsigned((hi >> 16) & 0xFFFF),
                  unsigned(hi & 0xFFFF), unsigned(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    return buf;
}

}  // namespace tessera::storage
