// Branches: editing a message and regenerating a reply add siblings; the shown thread, the ‹ n/m ›
// positions and branch switching read back in order; deleting a branch falls back to a sensible thread.
#include <algorithm>

#include "storage/attachment_store.h"
#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/streaming_reply.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;

namespace {

std::vector<std::string> contents(const std::vector<Message>& thread) {
    std::vector<std::string> out;
    for (const auto& m : thread) out.push_back(m.content);
    return out;
}

}  // namespace

class TestBranches : public QObject {
    Q_OBJECT

    tessera::test::TempDir* m_dir = nullptr;
    std::unique_ptr<Database> m_db;

    tessera::Result<Message> say(Id conversation, std::optional<Id> parent, Role role, const std::string& text) {
        MessageRepository messages(*m_db);
        Message m;
        m.conversation_id = conversation;
        m.parent_id = parent;
        m.role = role;
        m.content = text;
        return messages.append(m);
    }

    // A regeneration: a new streamed reply under the same parent as the old one.
    tessera::Result<Id> regenerate(Id conversation, Id user_message, const std::string& text) {
        TESSERA_ASSIGN(StreamingReply reply, StreamingReply::begin(*m_db, conversation, user_message, "model"));
        TESSERA_TRY(reply.append(text));
        TESSERA_TRY(reply.finish());
        return reply.message_id();
    }

private slots:
    void init() {
        m_dir = new tessera::test::TempDir();
        m_db = open_db(*m_dir / "tessera.db");
        QVERIFY(m_db);
    }
    void cleanup() {
        m_db.reset();
        delete m_dir;
    }

    void editAndRegenerateFormBranches() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        AttachmentStore store(*m_db, m_dir->path());
        STORAGE_ASSIGN(Conversation c, conversations.create("branches"));
        STORAGE_ASSIGN(Message sys, say(c.id, std::nullopt, Role::System, "You are helpful."));
        STORAGE_ASSIGN(Message u1, say(c.id, sys.id, Role::User, "What is 2+2?"));
        STORAGE_ASSIGN(Attachment img, store.add("\x89PNG\r\n\x1a\n-not-really"));
        STORAGE_OK(store.link(u1.id, img.id, "sum.png"));
        STORAGE_ASSIGN(Message a1, say(c.id, u1.id, Role::Assistant, "4"));
        STORAGE_ASSIGN(Message u2, say(c.id, a1.id, Role::User, "And 3+3?"));
        STORAGE_ASSIGN(Message a2, say(c.id, u2.id, Role::Assistant, "6"));

        // Regenerate the last reply twice: three versions under u2.
        STORAGE_ASSIGN(Id a2b, regenerate(c.id, u2.id, "six"));
        STORAGE_ASSIGN(Id a2c, regenerate(c.id, u2.id, "It is 6."));
        STORAGE_ASSIGN(auto thread, messages.active_thread(c.id));
        QCOMPARE(contents(thread), (std::vector<std::string>{"You are helpful.", "What is 2+2?", "4", "And 3+3?", "It is 6."}));
        STORAGE_ASSIGN(BranchInfo info, messages.branch_info(a2c));
        QCOMPARE(info.index, 2);
        QCOMPARE(info.count, 3);
        QCOMPARE(info.previous, std::optional<Id>(a2b));
        QVERIFY(!info.next);
        STORAGE_ASSIGN(auto siblings, messages.children(c.id, u2.id));
        QCOMPARE(contents(siblings), (std::vector<std::string>{"6", "six", "It is 6."}));

        // Switch to the first version (‹ twice).
        STORAGE_ASSIGN(Id leaf, messages.select_branch(a2.id));
        QCOMPARE(leaf, a2.id);
        STORAGE_ASSIGN(auto first, messages.active_thread(c.id));
        QCOMPARE(first.back().content, std::string("6"));
        STORAGE_ASSIGN(BranchInfo first_info, messages.branch_info(a2.id));
        QCOMPARE(first_info.index, 0);
        QCOMPARE(first_info.next, std::optional<Id>(a2b));

        // Edit the first question: a sibling of u1 with the same image; the thread now ends at the edit.
        STORAGE_ASSIGN(Message u1e, messages.edit(u1.id, "What is 2+3?"));
        QCOMPARE(u1e.parent_id, std::optional<Id>(sys.id));
        QCOMPARE(u1e.role, Role::User);
        STORAGE_ASSIGN(auto images, store.for_message(u1e.id));
        QCOMPARE(int(images.size()), 1);
        QCOMPARE(images[0].name, std::string("sum.png"));
        STORAGE_ASSIGN(auto edited, messages.active_thread(c.id));
        QCOMPARE(contents(edited), (std::vector<std::string>{"You are helpful.", "What is 2+3?"}));
        STORAGE_ASSIGN(Message a1e, say(c.id, u1e.id, Role::Assistant, "5"));
        STORAGE_ASSIGN(auto answered, messages.active_thread(c.id));
        QCOMPARE(contents(answered), (std::vector<std::string>{"You are helpful.", "What is 2+3?", "5"}));
        STORAGE_ASSIGN(BranchInfo u1_info, messages.branch_info(u1e.id));
        QCOMPARE(u1_info.index, 1);
        QCOMPARE(u1_info.count, 2);

        // Back to the original question: the newest leaf below it (the last regeneration) is shown.
        STORAGE_ASSIGN(Id back, messages.select_branch(u1.id));
        QCOMPARE(back, a2c);
        STORAGE_ASSIGN(auto restored, messages.active_thread(c.id));
        QCOMPARE(contents(restored), (std::vector<std::string>{"You are helpful.", "What is 2+2?", "4", "And 3+3?", "It is 6."}));
        STORAGE_ASSIGN(Conversation after, conversations.get(c.id));
        QCOMPARE(after.current_leaf_id, std::optional<Id>(a2c));

        // The whole tree, oldest first: parents always precede children.
        STORAGE_ASSIGN(auto all, messages.list_all(c.id));
        QCOMPARE(int(all.size()), 9);
        for (std::size_t i = 0; i < all.size(); ++i)
            if (all[i].parent_id)
                QVERIFY(std::any_of(all.begin(), all.begin() + long(i), [&](const Message& m) { return m.id == *all[i].parent_id; }));
        (void)a1e;
    }

    void deletingShownBranchFallsBack() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("delete"));
        STORAGE_ASSIGN(Message u, say(c.id, std::nullopt, Role::User, "q"));
        STORAGE_ASSIGN(Message a, say(c.id, u.id, Role::Assistant, "a"));
        STORAGE_ASSIGN(Message u_next, say(c.id, a.id, Role::User, "q2"));
        STORAGE_ASSIGN(Id b, regenerate(c.id, u.id, "b"));
        // The shown thread is q -> b; delete b: falls back to the newest remaining leaf under q.
        STORAGE_OK(messages.remove(b));
        STORAGE_ASSIGN(auto thread, messages.active_thread(c.id));
        QCOMPARE(contents(thread), (std::vector<std::string>{"q", "a", "q2"}));
        // Deleting a subtree takes its descendants.
        STORAGE_OK(messages.remove(a.id));
        QVERIFY(!messages.get(u_next.id).ok());
        STORAGE_ASSIGN(auto left, messages.active_thread(c.id));
        QCOMPARE(contents(left), (std::vector<std::string>{"q"}));
        // Deleting the root leaves an empty conversation.
        STORAGE_OK(messages.remove(u.id));
        STORAGE_ASSIGN(auto empty, messages.active_thread(c.id));
        QVERIFY(empty.empty());
        STORAGE_ASSIGN(Conversation after, conversations.get(c.id));
        QVERIFY(!after.current_leaf_id);
    }

    void secondRootIsAnEditOfTheFirstMessage() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("roots"));
        STORAGE_ASSIGN(Message u, say(c.id, std::nullopt, Role::User, "hello"));
        STORAGE_ASSIGN(Message e, messages.edit(u.id, "hi"));
        QVERIFY(!e.parent_id);
        STORAGE_ASSIGN(auto roots, messages.children(c.id, std::nullopt));
        QCOMPARE(contents(roots), (std::vector<std::string>{"hello", "hi"}));
        STORAGE_ASSIGN(BranchInfo info, messages.branch_info(e.id));
        QCOMPARE(info.index, 1);
        QCOMPARE(info.count, 2);
        // Without a current leaf the newest root's newest leaf is shown.
        STORAGE_OK(conversations.set_current_leaf(c.id, std::nullopt));
        STORAGE_ASSIGN(auto thread, messages.active_thread(c.id));
        QCOMPARE(contents(thread), (std::vector<std::string>{"hi"}));
    }

    void longThreadReadsBackInOrder() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("long"));
        std::optional<Id> parent;
        STORAGE_ASSIGN(Transaction tx, Transaction::begin(*m_db));
        for (int i = 0; i < 600; ++i) {
            STORAGE_ASSIGN(Message m, say(c.id, parent, i % 2 ? Role::Assistant : Role::User, std::to_string(i)));
            parent = m.id;
        }
        STORAGE_OK(tx.commit());
        STORAGE_ASSIGN(auto thread, messages.active_thread(c.id));
        QCOMPARE(int(thread.size()), 600);
        for (int i = 0; i < 600; ++i) QCOMPARE(thread[std::size_t(i)].content, std::to_string(i));
    }
};

QTEST_APPLESS_MAIN(TestBranches)
#include "test_branches.moc"
