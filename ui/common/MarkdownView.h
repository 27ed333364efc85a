// MarkdownView: a read-only text view that renders a reply's Markdown (headings, lists, tables, links)
// with fenced code blocks highlighted and a "Copy" link on each. It sizes itself to its content, so a
// column of them scrolls as one page.
//
// Streaming keeps the GUI thread free: the source is cut into pieces (paragraphs and code blocks), text
// that only grew re-renders just the last piece, and while streaming no piece grows past kMaxLivePiece
// characters (a long code block continues in the same frame; a long Markdown run is cut at a line and
// rendered whole again once streaming ends). Updates are coalesced, and a render stops after
// kRenderBudgetMs, continuing on the next turn of the event loop, so each one costs a bounded amount of work
// however long the reply gets and however fast it arrives.
#pragma once

#include <QElapsedTimer>
#include <QStringList>
#include <QTextBrowser>
#include <QTimer>

class MarkdownView : public QTextBrowser {
    Q_OBJECT
public:
    explicit MarkdownView(QWidget* parent = nullptr);

    // While streaming, no piece grows past this many characters (plus one line of code).
    static constexpr int kMaxLivePiece = 2048;
    // While streaming, renders are at least this far apart, and further when a render was slow.
    static constexpr int kMinRenderIntervalMs = 30;
    // While streaming, a render adds pieces for at most about this long, then continues on the next turn of
    // the event loop.
    static constexpr int kRenderBudgetMs = 8;

    void setMarkdown(const QString& markdown);
    QString markdownSource() const { return m_source; }
    // Streaming: updates are coalesced and pieces bounded. Turning it off renders at once, as a whole.
    void setStreaming(bool streaming);
    bool isStreaming() const { return m_streaming; }
    // Renders now what setMarkdown left pending (while streaming, as much as one render's budget allows).
    void flush();
    bool renderPending() const { return m_source != m_renderedSource; }
    // Source characters parsed and rendered by the last render (bounded while streaming).
    int lastRenderedChars() const { return m_lastRenderedChars; }

    QStringList codeBlocks() const { return m_code; }
    // Copies code block `index` to the clipboard (what its "Copy" link does).
    void copyCodeBlock(int index);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

    // A rendered unit of the source: a Markdown run (up to a blank line) or (part of) a fenced code block.
    struct Piece {
        bool code = false;
        bool continuation = false;  // more lines of the previous piece's code block (same frame)
        bool cut = false;           // ended by the streaming size bound, not by the Markdown
        QString language;
        QString marker;  // the code fence, ``` or ~~~
        QString text;
        qsizetype sourceStart = 0;  // where the piece begins in the source
        // Filled in when rendered.
        int docStart = 0;
        qsizetype codeCountBefore = 0;
        qsizetype codeLengthBefore = 0;  // continuation: length of the block's code before it
        bool commentAfter = false;       // the highlighter is inside /* */ at its end
    };
    // Pieces of source[from..]. `resume` is the piece being redone (a code continuation starts inside its
    // block); maxPiece > 0 cuts pieces at about that length.
    static QList<Piece> parse(const QString& source, qsizetype from, const Piece* resume, int maxPiece);

signals:
    void codeCopied(int index);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void scheduleRender();
    void render();
    void removeFrom(int index, QTextCursor& cursor);
    void renderPiece(QTextCursor& cursor, Piece& piece);
    void fitHeight();
    void onAnchor(const QUrl& url);

    QString m_source;
    QString m_renderedSource;
    QList<Piece> m_pieces;
    QStringList m_code;
    bool m_streaming = false;
    int m_lastRenderedChars = 0;
    int m_lastWidth = -1;
    QTimer m_renderTimer;
    QElapsedTimer m_sinceRender;
    qint64 m_lastRenderMs = 0;
};
