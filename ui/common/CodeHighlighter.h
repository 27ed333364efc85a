// CodeHighlighter: a small lexer for code blocks in replies (C-like languages, Python, shell, JSON):
// keywords, strings, numbers and comments. It only has to look right, not to parse.
#pragma once

#include <QList>
#include <QString>

class CodeHighlighter {
public:
    enum class Kind { Plain, Keyword, String, Comment, Number };
    struct Span {
        int start = 0;
        int length = 0;
        Kind kind = Kind::Plain;
    };
    // Spans covering one line of code written in `language` (the fence's info string, may be empty).
    // inBlockComment carries a /* ... */ comment from one line to the next.
    static QList<Span> highlightLine(const QString& line, const QString& language, bool* inBlockComment);
};
