// MarkdownView while a reply streams: the document built piece by piece (with pieces cut by the size
// bound) ends up exactly as one render of the whole text; each update renders a bounded amount however
// long the reply grows; updates are coalesced; code blocks keep their full text for "Copy".
#include <QTextBlock>
#include <QTextDocument>
#include <QtTest>

#include "ui/common/MarkdownView.h"
#include "ui/common/Theme.h"

namespace {

QString longCode(int lines) {
    QString s = QStringLiteral("Here is the program:\n\n```cpp\n/* a comment that\n   spans lines */\n");
    for (int i = 0; i < lines; ++i) s += QStringLiteral("int value_%1 = %1; // \"line\" %1\n").arg(i);
    s += QStringLiteral("```\n\nThat was the program.\n");
    return s;
}

QString longList(int items) {
    QString s = QStringLiteral("A list without blank lines:\n\n");
    for (int i = 1; i <= items; ++i) s += QStringLiteral("%1. item number %1 with **bold** text\n").arg(i);
    return s + QStringLiteral("\nAfter the list.");
}

QString longLine(int words) {
    QString s = QStringLiteral("# Heading\n\n");
    for (int i = 0; i < words; ++i) s += QStringLiteral("word%1 ").arg(i);
    return s + QStringLiteral("\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
}

const QStringList& samples() {
    static const QStringList s = {
        QStringLiteral("Hello **world**.\n\n## A heading\n\n- one\n- two\n\nA [link](https://example.org)."),
        QStringLiteral(
            "```python\ndef f(x):\n    return x  # done\n```\nAfter code, no blank line.\n~~~\nplain\n~~~"),
        longCode(400),
        longList(300),
        longLine(1500),
    };
    return s;
}

// Streams `text` into `view` in pieces of `step` characters, rendering after every piece as the
// coalescing timer would, then ends the stream.
void stream(MarkdownView& view, const QString& text, int step, int* maxRendered = nullptr) {
    view.setStreaming(true);
    for (qsizetype i = step; i < text.size() + step; i += step) {
        view.setMarkdown(text.left(i));
        view.flush();
        if (maxRendered) *maxRendered = std::max(*maxRendered, view.lastRenderedChars());
    }
    view.setStreaming(false);
}

}  // namespace

class TestMarkdownView : public QObject {
    Q_OBJECT
private slots:
    void streamedEqualsWholeRender_data() {
        QTest::addColumn<int>("sample");
        QTest::addColumn<int>("step");
        for (int s = 0; s < samples().size(); ++s) {
            for (int step : {11, 61, 997}) QTest::addRow("sample %d, %d chars a step", s, step) << s << step;
        }
    }
    void streamedEqualsWholeRender() {
        QFETCH(int, sample);
        QFETCH(int, step);
        const QString text = samples().at(sample);
        MarkdownView whole;
        whole.setMarkdown(text);
        MarkdownView streamed;
        stream(streamed, text, step);
        QCOMPARE(streamed.markdownSource(), text);
        QCOMPARE(streamed.document()->toPlainText(), whole.document()->toPlainText());
        QCOMPARE(streamed.document()->toHtml(), whole.document()->toHtml());
        QCOMPARE(streamed.codeBlocks(), whole.codeBlocks());
    }

    void eachUpdateRendersABoundedAmount() {
        const QString text = longCode(1200) + longList(800) + longLine(6000);
        QVERIFY(text.size() > 120'000);
        MarkdownView view;
        int maxRendered = 0;
        stream(view, text, 64, &maxRendered);
        // A piece is cut at the bound after a complete line; the update adds at most one step more.
        const int longestCodeLine = 40;
        QVERIFY2(maxRendered <= MarkdownView::kMaxLivePiece + longestCodeLine + 64,
                 qPrintable(QString::number(maxRendered)));
        // The end of the stream renders the cut Markdown again as a whole, which is not bounded.
        QVERIFY(view.lastRenderedChars() > MarkdownView::kMaxLivePiece);
        MarkdownView whole;
        whole.setMarkdown(text);
        QCOMPARE(view.document()->toHtml(), whole.document()->toHtml());
    }

    void aBurstIsRenderedInBudgetedSteps() {
        // A thousand paragraphs arriving at once while streaming (a fast model between two renders).
        QString text;
        for (int i = 0; i < 1000; ++i)
            text += QStringLiteral("Paragraph %1 of a burst, with some words.\n\n").arg(i);
        MarkdownView view;
        view.setStreaming(true);
        view.setMarkdown(QStringLiteral("Start.\n\n"));
        view.flush();
        view.setMarkdown(QStringLiteral("Start.\n\n") + text);
        view.flush();
        // One render stopped after its time budget (the whole burst takes far longer to render) ...
        QVERIFY(view.renderPending());
        QVERIFY2(view.lastRenderedChars() < text.size() / 2,
                 qPrintable(QString::number(view.lastRenderedChars())));
        // ... and the rest followed on later turns of the event loop, without more text arriving.
        QTRY_VERIFY_WITH_TIMEOUT(!view.renderPending(), 20000);
        view.setStreaming(false);
        MarkdownView whole;
        whole.setMarkdown(QStringLiteral("Start.\n\n") + text);
        QCOMPARE(view.document()->toHtml(), whole.document()->toHtml());
    }

    void codeSpansTakeTheirThemeColours() {
        MarkdownView view;
        view.setMarkdown(QStringLiteral("```cpp\nreturn \"text\"; // note 42\n```"));
        // The colour of the fragment that holds each span's text.
        auto colourOf = [&](const QString& word) {
            for (QTextBlock b = view.document()->begin(); b.isValid(); b = b.next())
                for (auto it = b.begin(); !it.atEnd(); ++it)
                    if (it.fragment().text().contains(word))
                        return it.fragment().charFormat().foreground().color();
            return QColor();
        };
        QCOMPARE(colourOf(QStringLiteral("return")), Theme::color(Theme::Color::Keyword));
        QCOMPARE(colourOf(QStringLiteral("\"text\"")), Theme::color(Theme::Color::String));
        QCOMPARE(colourOf(QStringLiteral("// note")), Theme::color(Theme::Color::Comment));
    }

    void codeBlockCopiesItsWholeText() {
        MarkdownView view;
        stream(view, longCode(500), 50);
        QCOMPARE(view.codeBlocks().size(), 1);
        const QString code = view.codeBlocks().first();
        QVERIFY(code.startsWith(QStringLiteral("/* a comment that\n")));
        QVERIFY(code.endsWith(QStringLiteral("int value_499 = 499; // \"line\" 499")));
        QCOMPARE(code.count(QLatin1Char('\n')), 501);
    }

    void laterPiecesKeepTheirOwnFormat() {
        MarkdownView view;
        stream(view, QStringLiteral("- a list item\n\n# Title\n\nplain text"), 5);
        QTextDocument* doc = view.document();
        bool title = false, plainOutsideList = false;
        for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
            if (b.text() == QStringLiteral("Title"))
                title = b.blockFormat().headingLevel() == 1 && !b.textList();
            if (b.text() == QStringLiteral("plain text"))
                plainOutsideList = b.blockFormat().headingLevel() == 0 && !b.textList();
        }
        QVERIFY(title);
        QVERIFY(plainOutsideList);
    }

    void updatesAreCoalesced() {
        MarkdownView view;
        view.setStreaming(true);
        view.setMarkdown(QStringLiteral("first"));
        view.flush();
        QCOMPARE(view.document()->toPlainText(), QStringLiteral("first"));
        for (int i = 0; i < 50; ++i)
            view.setMarkdown(QStringLiteral("first") + QString(i + 1, QLatin1Char('x')));
        // Nothing rendered yet: the 50 updates wait for one render on the timer.
        QVERIFY(view.renderPending());
        QCOMPARE(view.document()->toPlainText(), QStringLiteral("first"));
        QTRY_VERIFY(!view.renderPending());
        QCOMPARE(view.document()->toPlainText(), QStringLiteral("first") + QString(50, QLatin1Char('x')));
        // Ending the stream renders at once.
        view.setMarkdown(QStringLiteral("done"));
        view.setStreaming(false);
        QCOMPARE(view.document()->toPlainText(), QStringLiteral("done"));
    }
};

QTEST_MAIN(TestMarkdownView)
#include "test_markdown_view.moc"
