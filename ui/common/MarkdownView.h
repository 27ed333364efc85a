// MarkdownView: a read-only text view that renders a reply's Markdown (headings, lists, tables, links)
// with fenced code blocks highlighted and a "Copy" link on each. It sizes itself to its content, so a
// column of them scrolls as one page, and re-renders in place while a reply streams.
#pragma once

#include <QStringList>
#include <QTextBrowser>

class MarkdownView : public QTextBrowser {
    Q_OBJECT
public:
    explicit MarkdownView(QWidget* parent = nullptr);

    void setMarkdown(const QString& markdown);
    QString markdownSource() const { return m_source; }
    QStringList codeBlocks() const { return m_code; }
    // Copies code block `index` to the clipboard (what its "Copy" link does).
    void copyCodeBlock(int index);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

    // Markdown split into plain Markdown and fenced code (an unclosed fence while streaming is code).
    struct Segment {
        bool code = false;
        QString language;
        QString text;
    };
    static QList<Segment> split(const QString& markdown);

signals:
    void codeCopied(int index);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void render();
    void fitHeight();
    void onAnchor(const QUrl& url);

    QString m_source;
    QStringList m_code;
    QList<Segment> m_rendered;  // segments on screen, in order
    QList<int> m_starts;        // document position where each begins
    int m_lastWidth = -1;
};
