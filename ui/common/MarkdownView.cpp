// MarkdownView: builds the document with QTextCursor: Markdown segments through insertMarkdown, code
// blocks as framed monospace blocks coloured by CodeHighlighter.
#include "ui/common/MarkdownView.h"

#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QFontDatabase>
#include <QRegularExpression>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFrame>

#include <algorithm>
#include <cmath>

#include "ui/common/CodeHighlighter.h"
#include "ui/common/Theme.h"

MarkdownView::MarkdownView(QWidget* parent) : QTextBrowser(parent) {
    setObjectName(QStringLiteral("MarkdownView"));
    setOpenLinks(false);
    setOpenExternalLinks(false);
    setFrameShape(QFrame::NoFrame);
    setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard | Qt::LinksAccessibleByMouse |
                            Qt::LinksAccessibleByKeyboard);
    document()->setDocumentMargin(2);
    viewport()->setAutoFillBackground(false);
    connect(this, &QTextBrowser::anchorClicked, this, &MarkdownView::onAnchor);
}

QList<MarkdownView::Segment> MarkdownView::split(const QString& markdown) {
    QList<Segment> out;
    static const QRegularExpression fence(QStringLiteral("^\\s{0,3}(```|~~~)\\s*([\\w+#.-]*)\\s*$"));
    const QStringList lines = markdown.split(QLatin1Char('\n'));
    Segment current;
    QString marker;
    auto flush = [&] {
        if (current.code || !current.text.trimmed().isEmpty()) out.append(current);
        current = Segment{};
    };
    for (const QString& line : lines) {
        const auto m = fence.match(line);
        if (!current.code && m.hasMatch()) {
            flush();
            current.code = true;
            current.language = m.captured(2);
            marker = m.captured(1);
            continue;
        }
        if (current.code && line.trimmed() == marker) {
            if (current.text.endsWith(QLatin1Char('\n'))) current.text.chop(1);
            flush();
            continue;
        }
        current.text += line + QLatin1Char('\n');
        // Paragraphs are their own segments, so a streaming reply re-renders only its last paragraph.
        if (!current.code && line.trimmed().isEmpty()) flush();
    }
    if (current.code && current.text.endsWith(QLatin1Char('\n'))) current.text.chop(1);
    flush();
    return out;
}

void MarkdownView::setMarkdown(const QString& markdown) {
    if (markdown == m_source && !document()->isEmpty()) return;
    m_source = markdown;
    render();
}

void MarkdownView::render() {
    const int scroll = verticalScrollBar()->value();
    QTextDocument* doc = document();
    const QList<Segment> segments = split(m_source);
    // Keep the segments already on screen that did not change (streaming only appends), and render the
    // rest again from where the first changed one began.
    int keep = 0;
    while (keep < segments.size() && keep < m_rendered.size() && segments[keep].code == m_rendered[keep].code &&
           segments[keep].text == m_rendered[keep].text && segments[keep].language == m_rendered[keep].language)
        ++keep;
    // The last segment on screen is always drawn again: its end (a paragraph break) may have changed.
    if (!m_rendered.isEmpty()) keep = std::min(keep, int(m_rendered.size()) - 1);
    QTextCursor cursor(doc);
    if (keep == 0) {
        doc->clear();
        m_code.clear();
        m_starts.clear();
        m_rendered.clear();
        cursor = QTextCursor(doc);
    } else {
        cursor.setPosition(m_starts[keep]);
        cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
        cursor.removeSelectedText();
        m_starts.resize(keep);
        m_rendered = m_rendered.mid(0, keep);
        int codeKept = 0;
        for (const auto& seg : m_rendered) codeKept += seg.code ? 1 : 0;
        m_code = m_code.mid(0, codeKept);
        cursor.movePosition(QTextCursor::End);
    }
    const QPalette pal = palette();
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    mono.setPointSizeF(font().pointSizeF() * 0.95);
    bool first = keep == 0;
    for (int si = keep; si < segments.size(); ++si) {
        const Segment& seg = segments[si];
        m_starts.append(cursor.position());
        m_rendered.append(seg);
        if (!seg.code) {
            if (!first) cursor.insertBlock();
            cursor.insertMarkdown(seg.text, QTextDocument::MarkdownDialectGitHub);
            first = false;
            continue;
        }
        const int index = int(m_code.size());
        m_code << seg.text;
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
        cursor.insertText(seg.language.isEmpty() ? tr("code") : seg.language, header);
        cursor.insertText(QStringLiteral("   "), header);
        QTextCharFormat link = header;
        link.setAnchor(true);
        link.setAnchorHref(QStringLiteral("copy:%1").arg(index));
        link.setForeground(pal.color(QPalette::Link));
        cursor.insertText(tr("Copy"), link);
        QTextCharFormat plain;
        plain.setFont(mono);
        plain.setForeground(pal.color(QPalette::Text));
        bool inComment = false;
        for (const QString& line : seg.text.split(QLatin1Char('\n'))) {
            QTextBlockFormat bf;
            bf.setNonBreakableLines(false);
            cursor.insertBlock(bf, plain);
            int pos = 0;
            for (const auto& span : CodeHighlighter::highlightLine(line, seg.language, &inComment)) {
                if (span.start > pos) cursor.insertText(line.mid(pos, span.start - pos), plain);
                QTextCharFormat f = plain;
                switch (span.kind) {
                case CodeHighlighter::Kind::Keyword: f.setForeground(Theme::color(Theme::Color::Keyword)); break;
                case CodeHighlighter::Kind::String: f.setForeground(Theme::color(Theme::Color::String)); break;
                case CodeHighlighter::Kind::Comment: f.setForeground(Theme::color(Theme::Color::Comment)); break;
                case CodeHighlighter::Kind::Number: f.setForeground(Theme::color(Theme::Color::Number)); break;
                case CodeHighlighter::Kind::Plain: break;
                }
                cursor.insertText(line.mid(span.start, span.length), f);
                pos = span.start + span.length;
            }
            if (pos < line.size()) cursor.insertText(line.mid(pos), plain);
        }
        cursor.movePosition(QTextCursor::End);
        first = false;
    }
    fitHeight();
    verticalScrollBar()->setValue(scroll);
}

void MarkdownView::fitHeight() {
    const int w = viewport()->width() > 0 ? viewport()->width() : width();
    document()->setTextWidth(w);
    const int h = int(std::ceil(document()->size().height())) + frameWidth() * 2;
    if (height() != h) setFixedHeight(h);
    updateGeometry();
}

QSize MarkdownView::sizeHint() const {
    return QSize(QTextBrowser::sizeHint().width(), int(std::ceil(document()->size().height())) + frameWidth() * 2);
}

QSize MarkdownView::minimumSizeHint() const { return QSize(80, sizeHint().height()); }

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
