// The item models under QAbstractItemModelTester: MessageModel (branches), ConversationListModel
// (ordering, search, rename), ModelListModel. Every change below is checked by the tester as it happens.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>

#include "ui/chat/MessageModel.h"
#include "ui/main/ConversationListModel.h"
#include "ui/models/ModelListModel.h"

namespace {
ChatMessage msg(qint64 id, qint64 parent, ChatMessage::Role role, const QString& text) {
    ChatMessage m;
    m.id = id;
    m.parentId = parent;
    m.role = role;
    m.content = text;
    m.createdAt = QDateTime::fromMSecsSinceEpoch(1'700'000'000'000 + id);
    return m;
}
ConversationSummary conv(qint64 id, const QString& title, qint64 minutesAgo, bool pinned = false) {
    ConversationSummary s;
    s.id = id;
    s.title = title;
    s.pinned = pinned;
    s.updatedAt = QDateTime::currentDateTime().addSecs(-60 * minutesAgo);
    return s;
}
}  // namespace

class TestItemModels : public QObject {
    Q_OBJECT
private slots:
    void messageModelBranches() {
        MessageModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.addMessage(msg(1, 0, ChatMessage::Role::User, QStringLiteral("hello")));
        model.addMessage(msg(2, 1, ChatMessage::Role::Assistant, QStringLiteral("hi")));
        QCOMPARE(model.rowCount(), 2);
        // Regenerate: a sibling of 2 becomes the shown branch.
        model.addMessage(msg(3, 1, ChatMessage::Role::Assistant, QStringLiteral("hey")));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.index(1).data(MessageModel::ContentRole).toString(), QStringLiteral("hey"));
        QCOMPARE(model.index(1).data(MessageModel::BranchIndexRole).toInt(), 2);
        QCOMPARE(model.index(1).data(MessageModel::BranchCountRole).toInt(), 2);
        model.switchBranch(1, -1);
        QCOMPARE(model.index(1).data(MessageModel::ContentRole).toString(), QStringLiteral("hi"));
        // Edit the first message: a new root sibling with no reply yet hides the old replies.
        model.addMessage(msg(4, 0, ChatMessage::Role::User, QStringLiteral("hello again")));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.index(0).data(MessageModel::BranchCountRole).toInt(), 2);
        model.switchBranch(0, -1);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.leafId(), 2);
        // Streaming.
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        model.appendAnswer(2, QStringLiteral(" there"));
        model.appendThinking(2, QStringLiteral("hmm"));
        QCOMPARE(changed.count(), 2);
        QCOMPARE(model.message(2)->content, QStringLiteral("hi there"));
        QCOMPARE(model.pathTo(2).size(), 2);
        // Reload with a chosen leaf.
        model.setMessages(model.allMessages(), 3);
        QCOMPARE(model.leafId(), 3);
        QCOMPARE(model.index(0).data(MessageModel::ContentRole).toString(), QStringLiteral("hello"));
    }

    void conversationListOrderAndSearch() {
        ConversationListModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setConversations({conv(1, QStringLiteral("old"), 60 * 24 * 30), conv(2, QStringLiteral("today"), 5),
                                conv(3, QStringLiteral("pinned"), 60 * 24 * 400, true)});
        QCOMPARE(model.idAt(0), 3);
        QCOMPARE(model.idAt(1), 2);
        QCOMPARE(model.index(0).data(ConversationListModel::SectionRole).toString(), QStringLiteral("Pinned"));
        QCOMPARE(model.index(1).data(ConversationListModel::SectionRole).toString(), QStringLiteral("Today"));
        QCOMPARE(model.index(2).data(ConversationListModel::SectionRole).toString(), QStringLiteral("Older"));
        // Activity moves a conversation up.
        auto s = *model.summary(1);
        s.updatedAt = QDateTime::currentDateTime();
        model.upsert(s);
        QCOMPARE(model.idAt(1), 1);
        model.upsert(conv(-1, QStringLiteral("new"), 0));
        QCOMPARE(model.rowCount(), 4);
        model.replaceId(-1, 9);
        QVERIFY(model.rowOf(9) >= 0);
        // Rename in place.
        QSignalSpy rename(&model, &ConversationListModel::renameRequested);
        QVERIFY(model.setData(model.index(model.rowOf(2)), QStringLiteral("renamed")));
        QCOMPARE(rename.count(), 1);
        QCOMPARE(rename.first().at(1).toString(), QStringLiteral("renamed"));
        // Delete and undo.
        auto removed = model.remove(2);
        QVERIFY(removed);
        QCOMPARE(model.rowOf(2), -1);
        model.upsert(*removed);
        QVERIFY(model.rowOf(2) >= 0);
        // Search mode shows hits and comes back.
        ConversationSummary hit = conv(2, QStringLiteral("renamed"), 0);
        hit.snippet = QStringLiteral("a <b>match</b>");
        model.setSearchResults({hit});
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.index(0).data(ConversationListModel::SnippetRole).toString(), QStringLiteral("a <b>match</b>"));
        QVERIFY(!(model.flags(model.index(0)) & Qt::ItemIsEditable));
        model.clearSearch();
        QCOMPARE(model.rowCount(), 4);
    }

    void modelList() {
        ModelListModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        ModelEntry a;
        a.path = QStringLiteral("/m/a");
        a.name = QStringLiteral("a");
        a.parameters = 1'500'000'000;
        a.memoryBytes = qint64(4) << 30;
        a.availableBytes = qint64(16) << 30;
        ModelEntry b;
        b.path = QStringLiteral("/m/b");
        b.name = QStringLiteral("b");
        b.kind = ModelEntry::Kind::Broken;
        b.error = QStringLiteral("config.json: missing");
        model.setEntries({a, b});
        QCOMPARE(model.columnCount(), int(ModelListModel::ColumnCount));
        QCOMPARE(model.index(0, ModelListModel::ParametersColumn).data().toString(), QStringLiteral("1.5B"));
        QCOMPARE(model.index(0, ModelListModel::MemoryColumn).data().toString(), QStringLiteral("4.0 GB / 16.0 GB"));
        QCOMPARE(model.index(1, ModelListModel::StateColumn).data().toString(), QStringLiteral("Error"));
        QCOMPARE(model.chatModels().size(), 1);
        model.setState(a.path, ModelEntry::State::Loading, 0.5);
        QCOMPARE(model.index(0, ModelListModel::StateColumn).data().toString(), QStringLiteral("Loading 50%"));
        model.setState(a.path, ModelEntry::State::Loaded);
        ModelEntry c = a;
        c.path = QStringLiteral("/n/c");
        model.upsert(c);
        QCOMPARE(model.rowCount(), 3);
        model.removeUnder(QStringLiteral("/m"));
        QCOMPARE(model.rowCount(), 1);
    }
};

QTEST_MAIN(TestItemModels)
#include "test_item_models.moc"
