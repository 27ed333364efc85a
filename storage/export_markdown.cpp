// Readable Markdown export of conversations (see export_import.h). Only the shown thread is written: a
// reader wants the conversation as it was last seen, not every abandoned edit.
#include <ctime>
#include <set>

#include "storage/conversation_repository.h"
#include "storage/export_import.h"
#include "storage/file_util.h"
#include "storage/grounding_repository.h"
#include "storage/message_repository.h"

namespace tessera::storage {

namespace fs = std::filesystem;

namespace {

std::string format_time(std::int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

// Lowercase ASCII letters and digits joined by '-'; other scripts are kept as they are (file systems
// take UTF-8), path separators and control characters never.
std::string slug(const std::string& title) {
    std::string out;
    bool dash = false;
    for (char ch : title) {
        const unsigned char c = static_cast<unsigned char>(ch);
        const bool keep = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80;
        const bool upper = c >= 'A' && c <= 'Z';
        if (keep || upper) {
            if (dash && !out.empty()) out += '-';
            out += upper ? static_cast<char>(c - 'A' + 'a') : ch;
            dash = false;
        } else {
            dash = true;
        }
        if (out.size() >= 60) break;
    }
    // Cutting at 60 bytes may split a UTF-8 character; drop its leftover bytes.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    return out.empty() ? "conversation" : out;
}

std::string quote_block(const std::string& text) {
    std::string out = "> ";
    for (char c : text) {
        out += c;
        if (c == '\n') out += "> ";
    }
    return out;
}

const char* speaker(Role role) {
    switch (role) {
        case Role::System: return "System";
        case Role::User: return "You";
        case Role::Assistant: return "Assistant";
    }
    return "You";
}

}  // namespace

Result<MarkdownDocument> export_conversation_markdown(Database& db, AttachmentStore& store, Id conversation_id) {
    ConversationRepository conversations(db);
    MessageRepository messages(db);
    GroundingRepository grounding(db);
    TESSERA_ASSIGN(Transaction tx, Transaction::begin(db, Transaction::Kind::Read));
    TESSERA_ASSIGN(Conversation c, conversations.get(conversation_id));
    TESSERA_ASSIGN(auto thread, messages.active_thread(conversation_id));

    MarkdownDocument doc;
    doc.file_name = slug(c.title) + "-" + std::to_string(c.id) + ".md";
    std::string& md = doc.text;
    md += "# " + (c.title.empty() ? std::string("Untitled conversation") : c.title) + "\n\n";
    md += "*" + format_time(c.created_at);
    if (!c.model.empty()) md += " · " + c.model;
    md += "*\n";
    std::set<std::string> copied;
    for (const Message& m : thread) {
        md += "\n---\n\n**" + std::string(speaker(m.role)) + "**";
        if (m.role == Role::Assistant && !m.model.empty()) md += " (" + m.model + ")";
        md += " · " + format_time(m.created_at) + "\n\n";
        if (!m.thinking.empty()) {
            md += "<details><summary>Thinking";
            if (m.stats.thinking_ms) md += " (" + std::to_string(*m.stats.thinking_ms / 1000) + " s)";
            md += "</summary>\n\n" + quote_block(m.thinking) + "\n\n</details>\n\n";
        }
        TESSERA_ASSIGN(auto attached, store.for_message(m.id));
        for (const auto& ma : attached) {
            const fs::path stored(ma.attachment.path);
            const std::string rel = "images/" + stored.filename().string();
            md += "![" + (ma.name.empty() ? std::string("image") : ma.name) + "](" + rel + ")\n\n";
            if (copied.insert(rel).second) doc.images.push_back({rel, store.file_path(ma.attachment)});
        }
        md += m.content;
        if (!m.content.empty() && m.content.back() != '\n') md += '\n';
        if (m.status == MessageStatus::Interrupted) md += "\n*(reply interrupted)*\n";
        if (m.status == MessageStatus::Error) md += "\n*(reply failed: " + m.error + ")*\n";
        TESSERA_ASSIGN(auto boxes, grounding.for_message(m.id));
        if (!boxes.empty()) {
            md += "\nBoxes (0–999 coordinates; pixels):\n\n";
            for (const auto& b : boxes) {
                char pixels[96];
                std::snprintf(pixels, sizeof pixels, "%.0f, %.0f, %.0f, %.0f", b.px0, b.py0, b.px1, b.py1);
                md += "- **" + b.phrase + "**: [" + std::to_string(b.x0) + ", " + std::to_string(b.y0) + ", " +
                      std::to_string(b.x1) + ", " + std::to_string(b.y1) + "]; " + pixels + "\n";
            }
        }
    }
    TESSERA_TRY(tx.commit());
    return doc;
}

Status write_markdown_export(Database& db, AttachmentStore& store, const fs::path& folder,
                             std::optional<Id> conversation_id) {
    std::vector<Id> ids;
    if (conversation_id) {
        ids.push_back(*conversation_id);
    } else {
        ConversationRepository conversations(db);
        TESSERA_ASSIGN(auto all, conversations.list(ConversationFilter::All, -1, 0));
        for (const auto& c : all) ids.push_back(c.id);
    }
    std::set<std::string> written_images;
    for (Id id : ids) {
        TESSERA_ASSIGN(MarkdownDocument doc, export_conversation_markdown(db, store, id));
        for (const auto& image : doc.images) {
            if (!written_images.insert(image.relative_path).second) continue;
            TESSERA_ASSIGN(std::string bytes, read_whole_file(image.source_path));
            TESSERA_TRY(write_file_atomic(folder / image.relative_path, bytes));
        }
        TESSERA_TRY(write_file_atomic(folder / doc.file_name, doc.text));
    }
    return {};
}

}  // namespace tessera::storage
