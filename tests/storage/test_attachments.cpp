// Attachments: SHA-256 and base64 against published vectors, image headers (and junk) recognised safely,
// content-addressed files written once and verified on read, garbage collection of orphaned rows/files.
#include <random>

#include "storage/attachment_store.h"
#include "storage/base64.h"
#include "storage/conversation_repository.h"
#include "storage/generated_image_repository.h"
#include "storage/grounding_repository.h"
#include "storage/image_info.h"
#include "storage/message_repository.h"
#include "storage/sha256.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;

namespace fs = std::filesystem;

namespace {

std::string be32(std::uint32_t v) {
    return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
std::string le16(std::uint32_t v) { return {char(v), char(v >> 8)}; }
std::string le32(std::uint32_t v) { return {char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }

std::string png(std::uint32_t w, std::uint32_t h, const std::string& tail = "") {
    return std::string("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16) + be32(w) + be32(h) + tail;
}

std::string jpeg(std::uint16_t w, std::uint16_t h) {
    std::string b("\xFF\xD8", 2);
    b += std::string("\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);  // APP0
    b += std::string("\xFF\xDB\x00\x04\x00\x00", 6);                                      // a tiny DQT
    b += std::string("\xFF\xC2\x00\x11\x08", 5) + char(h >> 8) + char(h) + char(w >> 8) + char(w);  // progressive
    b += std::string(12, '\0') + "\xFF\xD9";
    return b;
}

}  // namespace

class TestAttachments : public QObject {
    Q_OBJECT

private slots:
    void sha256Vectors() {
        QCOMPARE(sha256_hex(""), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        QCOMPARE(sha256_hex("abc"), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        QCOMPARE(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                 std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        // One million 'a', fed in uneven pieces to exercise the buffering.
        Sha256 h;
        const std::string chunk(997, 'a');
        std::size_t left = 1'000'000;
        while (left > 0) {
            const std::size_t n = std::min(left, chunk.size());
            h.update(chunk.data(), n);
            left -= n;
        }
        const auto d = h.digest();
        std::string hex;
        for (auto byte : d) {
            char buf[3];
            std::snprintf(buf, sizeof buf, "%02x", byte);
            hex += buf;
        }
        QCOMPARE(hex, std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    }

    void base64Vectors() {
        const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                               {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                               {"foobar", "Zm9vYmFy"}};
        for (const auto& [plain, encoded] : vectors) {
            QCOMPARE(base64_encode(plain), std::string(encoded));
            QCOMPARE(base64_decode(encoded), std::optional<std::string>(plain));
        }
        std::string all;
        for (int i = 0; i < 256; ++i) all += char(i);
        QCOMPARE(base64_decode(base64_encode(all)), std::optional<std::string>(all));
        for (const char* bad : {"Zg=", "Z===", "Zh==", "Zm9v!A==", "Zm9v\nYmFy", "=Zm9", "Zm=v"})
            QVERIFY2(!base64_decode(bad), bad);
    }

    void imageHeadersRecognised() {
        auto p = sniff_image(png(640, 480));
        QCOMPARE(p.mime, std::string("image/png"));
        QCOMPARE(p.width, 640);
        QCOMPARE(p.height, 480);
        auto j = sniff_image(jpeg(1024, 768));
        QCOMPARE(j.mime, std::string("image/jpeg"));
        QCOMPARE(j.width, 1024);
        QCOMPARE(j.height, 768);
        auto g = sniff_image(std::string("GIF89a") + le16(32) + le16(16) + std::string(8, '\0'));
        QCOMPARE(g.extension, std::string("gif"));
        QCOMPARE(g.width, 32);
        QCOMPARE(g.height, 16);
        const std::string riff = "RIFF" + le32(100) + "WEBP";
        auto lossy = sniff_image(riff + "VP8 " + le32(10) + std::string("\x9d\x01\x2a\x9d\x01\x2a", 6) + le16(300) + le16(200));
        QCOMPARE(lossy.width, 300);
        QCOMPARE(lossy.height, 200);
        const std::uint32_t bits = (300 - 1) | ((200 - 1) << 14);
        auto lossless = sniff_image(riff + "VP8L" + le32(10) + "\x2f" + le32(bits));
        QCOMPARE(lossless.width, 300);
        QCOMPARE(lossless.height, 200);
        auto extended = sniff_image(riff + "VP8X" + le32(10) + le32(0) + std::string("\x2b\x01\x00\xc7\x00\x00", 6));
        QCOMPARE(extended.width, 300);
        QCOMPARE(extended.height, 200);
        auto bmp = sniff_image("BM" + std::string(12, '\0') + le32(40) + le32(50) + le32(std::uint32_t(-60)));
        QCOMPARE(bmp.mime, std::string("image/bmp"));
        QCOMPARE(bmp.width, 50);
        QCOMPARE(bmp.height, 60);
        auto text = sniff_image("just some text");
        QVERIFY(!text.is_image);
        QCOMPARE(text.mime, std::string("application/octet-stream"));
        // Truncated and random headers: no crash (ASan watches), sizes unknown or sane.
        const std::string samples[] = {png(1, 1), jpeg(5, 5), riff + "VP8X", "BM", "GIF89a", "\xFF\xD8\xFF"};
        std::mt19937 rng(7);
        for (const auto& s : samples)
            for (std::size_t cut = 0; cut <= s.size(); ++cut) {
                auto info = sniff_image(std::string_view(s).substr(0, cut));
                QVERIFY(info.width >= 0 && info.height >= 0);
            }
        for (int i = 0; i < 2000; ++i) {
            std::string junk = i % 2 ? std::string("\xFF\xD8\xFF", 3) : std::string("RIFF\0\0\0\0WEBPVP8", 15);
            junk.resize(junk.size() + rng() % 64);
            for (std::size_t k = 3; k < junk.size(); ++k) junk[k] = char(rng());
            auto info = sniff_image(junk);
            QVERIFY(info.width >= 0 && info.width <= (1 << 20));
        }
    }

    void contentAddressedFiles() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "tessera.db");
        QVERIFY(db);
        AttachmentStore store(*db, dir.path());
        const std::string bytes = png(64, 32, std::string("pixels\0\xff", 8));
        STORAGE_ASSIGN(Attachment a, store.add(bytes));
        const std::string hash = sha256_hex(bytes);
        QCOMPARE(a.sha256, hash);
        QCOMPARE(a.path, "attachments/" + hash.substr(0, 2) + "/" + hash + ".png");
        QCOMPARE(a.mime, std::string("image/png"));
        QCOMPARE(a.size, std::int64_t(bytes.size()));
        QCOMPARE(a.width, 64);
        QCOMPARE(a.height, 32);
        QCOMPARE(tessera::test::read_file(dir / a.path), bytes);
        QCOMPARE(store.file_path(a), dir / a.path);

        // The same bytes again: same row, one file.
        STORAGE_ASSIGN(Attachment again, store.add(bytes));
        QCOMPARE(again, a);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM attachments"), 1);
        std::size_t files = 0;
        for (const auto& e : fs::recursive_directory_iterator(dir / "attachments"))
            if (e.is_regular_file()) ++files;
        QCOMPARE(files, std::size_t(1));

        STORAGE_ASSIGN(Attachment by_id, store.get(a.id));
        QCOMPARE(by_id, a);
        STORAGE_ASSIGN(std::string read, store.read(a));
        QCOMPARE(read, bytes);

        // From a file; an explicit type wins over sniffing.
        tessera::test::write_file(dir / "notes.txt", "hello attachments");
        STORAGE_ASSIGN(Attachment txt, store.add_file(dir / "notes.txt"));
        QCOMPARE(txt.mime, std::string("application/octet-stream"));
        QVERIFY(txt.path.ends_with(".bin"));
        STORAGE_ASSIGN(Attachment typed, store.add("{}", "application/json"));
        QCOMPARE(typed.mime, std::string("application/json"));
        QVERIFY(!store.add_file(dir / "missing.png").ok());

        // A damaged file is an error on read, and adding the bytes again repairs it.
        tessera::test::write_file(dir / a.path, "garbage");
        auto damaged = store.read(a);
        QVERIFY(!damaged.ok());
        QCOMPARE(damaged.error().code, tessera::ErrorCode::Format);
        STORAGE_OK(store.add(bytes));
        STORAGE_ASSIGN(std::string repaired, store.read(a));
        QCOMPARE(repaired, bytes);
        fs::remove(dir / a.path);
        QCOMPARE(store.read(a).error().code, tessera::ErrorCode::Io);
        STORAGE_OK(store.add(bytes));
        QCOMPARE(tessera::test::read_file(dir / a.path), bytes);
    }

    void linksKeepOrderAndNames() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "tessera.db");
        QVERIFY(db);
        AttachmentStore store(*db, dir.path());
        ConversationRepository conversations(*db);
        MessageRepository messages(*db);
        STORAGE_ASSIGN(Conversation c, conversations.create("images"));
        Message m;
        m.conversation_id = c.id;
        m.content = "compare these";
        STORAGE_ASSIGN(Message msg, messages.append(m));
        std::vector<Id> ids;
        for (int i = 0; i < 3; ++i) {
            STORAGE_ASSIGN(Attachment a, store.add(png(10 + i, 10, std::to_string(i))));
            STORAGE_OK(store.link(msg.id, a.id, "photo " + std::to_string(i) + ".png"));
            ids.push_back(a.id);
        }
        STORAGE_OK(store.link(msg.id, ids[0], "again.png"));  // the same image twice in one message
        STORAGE_ASSIGN(auto linked, store.for_message(msg.id));
        QCOMPARE(int(linked.size()), 4);
        for (int i = 0; i < 4; ++i) QCOMPARE(linked[std::size_t(i)].position, i);
        QCOMPARE(linked[1].name, std::string("photo 1.png"));
        QCOMPARE(linked[1].attachment.id, ids[1]);
        QCOMPARE(linked[3].attachment.id, ids[0]);
        QVERIFY(!store.link(msg.id, 999999).ok());  // foreign key
    }

    void garbageCollection() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "tessera.db");
        QVERIFY(db);
        AttachmentStore store(*db, dir.path());
        ConversationRepository conversations(*db);
        MessageRepository messages(*db);
        GroundingRepository grounding(*db);
        GeneratedImageRepository gallery(*db);
        STORAGE_ASSIGN(Conversation doomed, conversations.create("doomed"));
        STORAGE_ASSIGN(Conversation kept, conversations.create("kept"));
        Message m;
        m.conversation_id = doomed.id;
        STORAGE_ASSIGN(Message in_doomed, messages.append(m));
        m.conversation_id = kept.id;
        STORAGE_ASSIGN(Message in_kept, messages.append(m));

        STORAGE_ASSIGN(Attachment linked_doomed, store.add(png(1, 1, "a")));
        STORAGE_ASSIGN(Attachment linked_kept, store.add(png(1, 1, "b")));
        STORAGE_ASSIGN(Attachment never_linked, store.add(png(1, 1, "c")));
        STORAGE_ASSIGN(Attachment generated, store.add(png(1, 1, "d")));
        STORAGE_ASSIGN(Attachment boxed, store.add(png(1, 1, "e")));
        STORAGE_OK(store.link(in_doomed.id, linked_doomed.id));
        STORAGE_OK(store.link(in_kept.id, linked_kept.id));
        GeneratedImage g;
        g.prompt = "p";
        g.attachment_id = generated.id;
        STORAGE_OK(gallery.add(g));
        GroundingBox b;
        b.message_id = in_kept.id;
        b.attachment_id = boxed.id;
        b.phrase = "x";
        STORAGE_OK(grounding.add(b));
        // Debris of crashes: a file no row names, and a temporary file of an interrupted write.
        fs::create_directories(dir / "attachments" / "ff");
        tessera::test::write_file(dir / "attachments" / "ff" / (std::string(64, 'f') + ".png"), "orphan");
        tessera::test::write_file(dir / "attachments" / "ff" / ".tmp-half-written", "half");

        // Young files and rows are protected (they may be being added right now).
        STORAGE_ASSIGN(GarbageReport young, store.collect_garbage(std::chrono::hours(1)));
        QCOMPARE(young.rows_removed, 0);
        QCOMPARE(young.files_removed, 0);

        STORAGE_OK(conversations.remove(doomed.id));
        STORAGE_ASSIGN(GarbageReport report, store.collect_garbage(std::chrono::seconds(0)));
        QCOMPARE(report.rows_removed, 2);   // linked_doomed, never_linked
        QCOMPARE(report.files_removed, 4);  // their files, the orphan, the temporary file
        QVERIFY(report.bytes_freed > 0);
        for (const auto& gone : {linked_doomed, never_linked}) {
            QVERIFY(!fs::exists(store.file_path(gone)));
            QVERIFY(!store.get(gone.id).ok());
        }
        for (const auto& alive : {linked_kept, generated, boxed}) {
            STORAGE_ASSIGN(std::string bytes, store.read(alive));
            QCOMPARE(sha256_hex(bytes), alive.sha256);
        }
        QVERIFY(!fs::exists(dir / "attachments" / "ff" / ".tmp-half-written"));
        STORAGE_ASSIGN(GarbageReport second, store.collect_garbage(std::chrono::seconds(0)));
        QCOMPARE(second.rows_removed + second.files_removed, 0);
    }
};

QTEST_APPLESS_MAIN(TestAttachments)
#include "test_attachments.moc"
