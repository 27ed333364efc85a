// MarkdownView: builds the document with QTextCursor: Markdown pieces through insertMarkdown, code blocks
// as framed monospace blocks coloured by CodeHighlighter. Only the pieces from the first changed one on
// are removed and rendered again; the document's layout is then redone from there by Qt, incrementally.
#include "ui/common/MarkdownView.h"

#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QFontDatabase>
#include <QRegularExpression>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextDocumentFragment>
#include <QTextFrame>

#include <algorithm>
#include <cmath>
#include <optional>

#include "ui/common/CodeHighlighter.h"
#include "ui/common/Theme.h"

namespace {

// An opening code fence: ``` or ~~~ with an optional language, indented by at most three spaces.
bool isFence(QStringView line, QString* marker, QString* language) {
    const QStringView t = line.trimmed();
    if (!t.startsWith(u"```") && !t.startsWith(u"~~~")) return false;  // most lines stop here, cheaply
    static const QRegularExpression fence(QStringLiteral("^\\s{0,3}(```|~~~)\\s*([\\w+#.-]*)\\s*$"));
    const auto m = fence.match(line);
    if (!m.hasMatch()) return false;
    *marker = m.captured(1);
    *language = m.captured(2);
    return true;
}

// Markdown to insert at the end of a block. An inserted fragment's first block merges into the block at
// the cursor and loses its own format (a heading, a list item), so the fragment starts with an empty
// plain block that does the merging, and the Markdown's first block follows with its format.
QTextDocumentFragment markdownAfterBlock(const QString& markdown) {
    QTextDocument doc;
    doc.setMarkdown(markdown, QTextDocument::MarkdownDialectGitHub);
    const QTextBlockFormat first = doc.firstBlock().blockFormat();
    QTextCursor c(&doc);
    c.insertBlock(QTextBlockFormat(), QTextCharFormat());  // the new block takes the text, not the format
    c.setBlockFormat(first);
    c.movePosition(QTextCursor::Start);
    c.setBlockFormat(QTextBlockFormat());
    c.select(QTextCursor::Document);
    return QTextDocumentFragment(c);
}

// The theme colour of a highlighted span; none for plain code.
std::optional<Theme::Color> highlightColor(CodeHighlighter::Kind kind) {
    switch (kind) {
        case CodeHighlighter::Kind::Keyword:
            return Theme::Color::Keyword;
        case CodeHighlighter::Kind::String:
            return Theme::Color::String;
        case CodeHighlighter::Kind::Comment:
            return Theme::Color::Comment;
        case CodeHighlighter::Kind::Number:
            return Theme::Color::Number;
        case CodeHighlighter::Kind::Plain:
            break;
    }
    return std::nullopt;
}

}  // namespace

MarkdownView::MarkdownView(QWidget* parent) : QTextBrowser(parent) {
    setObjectName(QStringLiteral("MarkdownView"));
    setOpenLinks(false);
    setOpenExternalLinks(false);
    setFrameShape(QFrame::NoFrame);
    setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard |
                            Qt::LinksAccessibleByMouse | Qt::LinksAccessibleByKeyboard);
    document()->setDocumentMargin(2);
    document()->setUndoRedoEnabled(false);  // a growing undo stack would hold every streamed piece
    viewport()->setAutoFillBackground(false);
    m_renderTimer.setSingleShot(true);
    connect(&m_renderTimer, &QTimer::timeout, this, &MarkdownView::render);
    connect(this, &QTextBrowser::anchorClicked, this, &MarkdownView::onAnchor);
}

QList<MarkdownView::Piece> MarkdownView::parse(const QString& source, qsizetype from, const Piece* resume,
                                               int maxPiece) {
    QList<Piece> out;
    Piece cur;
    cur.sourceStart = from;
    if (resume && resume->code && resume->continuation) {
        cur.code = true;
        cur.continuation = true;
        cur.language = resume->language;
        cur.marker = resume->marker;
    }
    auto flush = [&](qsizetype nextStart) {
        if (cur.code || !cur.text.trimmed().isEmpty()) out.append(cur);
        cur = Piece{};
        cur.sourceStart = nextStart;
    };
    const qsizetype n = source.size();
    qsizetype pos = from;
    // Every line, including the empty one after a final newline (it ends a paragraph, as a blank line).
    while (pos <= n) {
        const qsizetype nl = source.indexOf(QLatin1Char('\n'), pos);
        const bool lastLine = nl < 0;
        const qsizetype end = lastLine ? n : nl;
        const qsizetype next = end + 1;
        QStringView line = QStringView(source).mid(pos, end - pos);
        QString marker, language;
        if (!cur.code && isFence(line, &marker, &language)) {
            flush(pos);
            cur.code = true;
            cur.language = language;
            cur.marker = marker;
            pos = next;
            continue;
        }
        if (cur.code && line.trimmed() == cur.marker) {
            if (cur.text.endsWith(QLatin1Char('\n'))) cur.text.chop(1);
            flush(next);
            pos = next;
            continue;
        }
        // A single line longer than the bound (a paragraph with no line breaks) is cut at a space.
        while (!cur.code && maxPiece > 0 && line.size() > maxPiece) {
            qsizetype cut = line.left(maxPiece).lastIndexOf(QLatin1Char(' '));
            if (cut <= 0) cut = maxPiece;
            cur.text += line.left(cut);
            cur.text += QLatin1Char('\n');
            cur.cut = true;
            flush(pos + cut);
            line = line.mid(cut);
            pos += cut;
        }
        cur.text += line;
        cur.text += QLatin1Char('\n');
        if (!cur.code && line.trimmed().isEmpty()) {
            // Paragraphs are their own pieces, so a streaming reply re-renders only its last paragraph.
            flush(next);
        } else if (maxPiece > 0 && !lastLine && cur.text.size() >= maxPiece) {
            // Too long to render again on every update: cut after this complete line.
            const Piece was = cur;
            if (cur.code) cur.text.chop(1);  // the next piece's lines start on new blocks
            cur.cut = true;
            flush(next);
            if (was.code) {
                cur.code = true;
                cur.continuation = true;
                cur.language = was.language;
                cur.marker = was.marker;
            }
        }
        pos = next;
    }
    if (cur.code && cur.text.endsWith(QLatin1Char('\n'))) cur.text.chop(1);
    flush(n);
    return out;
}

void MarkdownView::setMarkdown(const QString& markdown) {
    if (markdown == m_source && !renderPending()) return;
    m_source = markdown;
    if (m_streaming)
        scheduleRender();
    else
        render();
}

void MarkdownView::setStreaming(bool streaming) {
    if (m_streaming == streaming) return;
    m_streaming = streaming;
    // The end of a stream: what is pending, and any piece cut by the bound, rendered as a whole.
    if (!streaming) render();
}

void MarkdownView::flush() {
    if (renderPending()) render();
}

void MarkdownView::scheduleRender() {
    if (m_renderTimer.isActive()) return;
    // A render that took long makes the next one wait longer, so rendering never takes most of the time.
    const qint64 gap = std::max<qint64>(kMinRenderIntervalMs, 3 * m_lastRenderMs);
    const qint64 since = m_sinceRender.isValid() ? m_sinceRender.elapsed() : gap;
    m_renderTimer.start(int(std::max<qint64>(0, gap - since)));
}

void MarkdownView::render() {
    m_renderTimer.stop();
    QElapsedTimer cost;
    cost.start();
    // Text that only grew keeps every piece but the last; the end of a stream also redoes the first
    // Markdown piece cut by the size bound and everything after it.
    int redo = 0;
    if (!m_pieces.isEmpty() && m_source.startsWith(m_renderedSource)) {
        redo = int(m_pieces.size()) - 1;
        if (!m_streaming) {
            for (int i = 0; i < redo; ++i) {
                if (m_pieces[i].cut && !m_pieces[i].code) {
                    redo = i;
                    break;
                }
            }
        }
    }
    const Piece resume = redo > 0 ? m_pieces[redo] : Piece{};
    const qsizetype from = redo > 0 ? resume.sourceStart : 0;
    QList<Piece> fresh = parse(m_source, from, redo > 0 ? &resume : nullptr, m_streaming ? kMaxLivePiece : 0);
    if (redo == 0) document()->clear();
    // One edit block: the document is laid out once, after the last change, instead of after each one.
    QTextCursor cursor(document());
    cursor.beginEditBlock();
    removeFrom(redo, cursor);
    cursor.movePosition(QTextCursor::End);
    // While streaming, a render stops once it has taken kRenderBudgetMs and leaves the rest of a burst to a
    // render on the next turn of the event loop: coalescing alone let one render take in everything that
    // arrived since the last, which at thousands of tokens a second blocked the GUI thread for 40–60 ms.
    qsizetype renderedEnd = m_source.size();
    for (qsizetype i = 0; i < fresh.size(); ++i) {
        renderPiece(cursor, fresh[i]);
        m_pieces.append(fresh[i]);
        if (m_streaming && i + 1 < fresh.size() && cost.elapsed() >= kRenderBudgetMs) {
            renderedEnd = fresh[i + 1].sourceStart;
            break;
        }
    }
    cursor.endEditBlock();
    m_renderedSource = renderedEnd < m_source.size() ? m_source.left(renderedEnd) : m_source;
    m_lastRenderedChars = int(renderedEnd - from);
    fitHeight();
    m_lastRenderMs = cost.elapsed();
    m_sinceRender.start();
    if (renderPending()) m_renderTimer.start(0);
}

void MarkdownView::removeFrom(int index, QTextCursor& cursor) {
    if (index <= 0) {
        m_pieces.clear();
        m_code.clear();
        return;
    }
    const Piece& p = m_pieces[index];
    cursor.setPosition(p.docStart);
    if (p.continuation) {
        // Lines inside the code block's frame, which is the document's last (only lines follow).
        const QList<QTextFrame*> frames = document()->rootFrame()->childFrames();
        cursor.setPosition(frames.last()->lastPosition(), QTextCursor::KeepAnchor);
        m_code[p.codeCountBefore - 1].truncate(p.codeLengthBefore);
    } else {
        cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
    }
    cursor.removeSelectedText();
    m_code.resize(p.codeCountBefore);
    m_pieces.resize(index);
}

void MarkdownView::renderPiece(QTextCursor& cursor, Piece& p) {
    QTextDocument* doc = document();
    p.codeCountBefore = m_code.size();
    if (!p.code) {
        p.docStart = cursor.position();
        if (doc->isEmpty() && m_pieces.isEmpty()) {
            cursor.insertMarkdown(p.text,
                                  QTextDocument::MarkdownDialectGitHub);  // takes its first block's format
        } else {
            cursor.insertFragment(markdownAfterBlock(p.text));
        }
        cursor.movePosition(QTextCursor::End);
        return;
    }
    const QPalette pal = palette();
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    mono.setPointSizeF(font().pointSizeF() * 0.95);
    bool inComment = false;
    if (p.continuation && !m_pieces.isEmpty() && !m_code.isEmpty()) {
        inComment = m_pieces.last().commentAfter;
        const QList<QTextFrame*> frames = doc->rootFrame()->childFrames();
        cursor.setPosition(frames.last()->lastPosition());
        p.docStart = cursor.position();
        p.codeLengthBefore = m_code.last().size();
        m_code.last() += QLatin1Char('\n') + p.text;
    } else {
        p.continuation = false;
        p.docStart = cursor.position();
        const int index = int(m_code.size());
        m_code << p.text;
        QTextFrameFormat frame;
        frame.setBackground(Theme::color(Theme::Color::CodeBackground));
        frame.setBorder(1);
        frame.setBorderBrush(Theme::color(Theme::Color::CodeBorder));
        frame.setBorderStyle(QTextFrameFormat::BorderStyle_Solid);
        frame.setPadding(8);
        frame.setTopMargin(6);
        frame.setBottomMargin(6);
        cursor.insertFrame(frame);
        QTextCharFormat header;
        header.setForeground(Theme::color(Theme::Color::Muted));
        header.setFontPointSize(font().pointSizeF() * 0.85);
        cursor.insertText(p.language.isEmpty() ? tr("code") : p.language, header);
        cursor.insertText(QStringLiteral("   "), header);
        QTextCharFormat link = header;
        link.setAnchor(true);
        link.setAnchorHref(QStringLiteral("copy:%1").arg(index));
        link.setForeground(pal.color(QPalette::Link));
        cursor.insertText(tr("Copy"), link);
    }
    QTextCharFormat plain;
    plain.setFont(mono);
    plain.setForeground(pal.color(QPalette::Text));
    for (const QString& line : p.text.split(QLatin1Char('\n'))) {
        cursor.insertBlock(QTextBlockFormat(), plain);
        int pos = 0;
        for (const auto& span : CodeHighlighter::highlightLine(line, p.language, &inComment)) {
            if (span.start > pos) cursor.insertText(line.mid(pos, span.start - pos), plain);
            QTextCharFormat f = plain;
            if (const auto color = highlightColor(span.kind)) f.setForeground(Theme::color(*color));
            cursor.insertText(line.mid(span.start, span.length), f);
            pos = span.start + span.length;
        }
        if (pos < line.size()) cursor.insertText(line.mid(pos), plain);
    }
    p.commentAfter = inComment;
    cursor.movePosition(QTextCursor::End);
}

void MarkdownView::fitHeight() {
    const int w = viewport()->width() > 0 ? viewport()->width() : width();
    // Setting the width, even an unchanged one, lays the whole document out again: only when it moved.
    if (!qFuzzyCompare(document()->textWidth(), qreal(w))) document()->setTextWidth(w);
    const int h = int(std::ceil(document()->size().height())) + frameWidth() * 2;
    if (height() != h) {
        setFixedHeight(h);
        updateGeometry();
    }
}

QSize MarkdownView::sizeHint() const {
    return QSize(QTextBrowser::sizeHint().width(),
                 int(std::ceil(document()->size().height())) + frameWidth() * 2);
}

QSize MarkdownView::minimumSizeHint() const {
    return QSize(80, sizeHint().height());
}

void MarkdownView::resizeEvent(QResizeEvent* event) {
    QTextBrowser::resizeEvent(event);
    if (viewport()->width() != m_lastWidth) {
        m_lastWidth = viewport()->width();
        fitHeight();
    }
}

void MarkdownView::copyCodeBlock(int index) {
    if (index < 0 || index >= m_code.size()) return;
    QApplication::clipboard()->setText(m_code.at(index));
    emit codeCopied(index);
}

void MarkdownView::onAnchor(const QUrl& url) {
    if (url.scheme() == QLatin1String("copy")) {
        copyCodeBlock(url.path().toInt());
        return;
    }
    if (url.scheme() == QLatin1String("http") || url.scheme() == QLatin1String("https"))
        QDesktopServices::openUrl(url);
}
