// CodeHighlighter: one pass over the line; the language only decides the comment markers.
#include "ui/common/CodeHighlighter.h"

#include <QSet>

#include <algorithm>

namespace {

const QSet<QString>& keywords() {
    static const QSet<QString> words = [] {
        QSet<QString> s;
        const char* list[] = {
            "auto", "bool", "break", "case", "catch", "char", "class", "const", "constexpr", "continue",
            "default", "delete", "do", "double", "else", "enum", "explicit", "export", "extern", "false", "float",
            "for", "friend", "if", "import", "inline", "int", "long", "namespace", "new", "noexcept", "nullptr",
            "operator", "private", "protected", "public", "return", "short", "signed", "sizeof", "static",
            "struct", "switch", "template", "this", "throw", "true", "try", "typedef", "typename", "union",
            "unsigned", "using", "virtual", "void", "volatile", "while", "def", "elif", "except", "finally",
            "from", "global", "in", "is", "lambda", "None", "nonlocal", "not", "and", "or", "pass", "raise",
            "True", "False", "with", "yield", "async", "await", "as", "function", "let", "var", "fn", "impl",
            "mut", "pub", "use", "mod", "match", "self", "Self", "trait", "where", "loop", "then", "fi", "done",
            "echo", "local", "package", "func", "go", "defer", "type", "interface", "null", "undefined",
            "print", "std", "string", "int32_t", "int64_t", "size_t", "uint8_t", "uint32_t", "uint64_t"};
        for (const char* w : list) s.insert(QString::fromLatin1(w));
        return s;
    }();
    return words;
}

bool hashComments(const QString& lang) {
    static const QSet<QString> langs = {QStringLiteral("python"), QStringLiteral("py"), QStringLiteral("sh"),
                                        QStringLiteral("bash"), QStringLiteral("shell"), QStringLiteral("zsh"),
                                        QStringLiteral("ruby"), QStringLiteral("yaml"), QStringLiteral("toml"),
                                        QStringLiteral("cmake"), QStringLiteral("perl"), QStringLiteral("r")};
    return langs.contains(lang.toLower());
}

}  // namespace

QList<CodeHighlighter::Span> CodeHighlighter::highlightLine(const QString& line, const QString& language,
                                                             bool* inBlockComment) {
    QList<Span> spans;
    const bool hash = hashComments(language);
    const int n = int(line.size());
    int i = 0;
    auto push = [&](int start, int len, Kind kind) {
        if (len > 0) spans.append(Span{start, len, kind});
    };
    if (inBlockComment && *inBlockComment) {
        const int end = int(line.indexOf(QLatin1String("*/")));
        if (end < 0) {
            push(0, n, Kind::Comment);
            return spans;
        }
        push(0, end + 2, Kind::Comment);
        *inBlockComment = false;
        i = end + 2;
    }
    while (i < n) {
        const QChar c = line[i];
        if ((!hash && c == QLatin1Char('/') && i + 1 < n && line[i + 1] == QLatin1Char('/')) ||
            (hash && c == QLatin1Char('#'))) {
            push(i, n - i, Kind::Comment);
            break;
        }
        if (!hash && c == QLatin1Char('/') && i + 1 < n && line[i + 1] == QLatin1Char('*')) {
            const int end = int(line.indexOf(QLatin1String("*/"), i + 2));
            if (end < 0) {
                push(i, n - i, Kind::Comment);
                if (inBlockComment) *inBlockComment = true;
                break;
            }
            push(i, end + 2 - i, Kind::Comment);
            i = end + 2;
            continue;
        }
        if (c == QLatin1Char('"') || c == QLatin1Char('\'') || c == QLatin1Char('`')) {
            int j = i + 1;
            while (j < n && line[j] != c) j += (line[j] == QLatin1Char('\\')) ? 2 : 1;
            const int end = std::min(j + 1, n);
            push(i, end - i, Kind::String);
            i = end;
            continue;
        }
        if (c.isDigit()) {
            int j = i;
            while (j < n && (line[j].isLetterOrNumber() || line[j] == QLatin1Char('.'))) ++j;
            push(i, j - i, Kind::Number);
            i = j;
            continue;
        }
        if (c.isLetter() || c == QLatin1Char('_')) {
            int j = i;
            while (j < n && (line[j].isLetterOrNumber() || line[j] == QLatin1Char('_'))) ++j;
            if (keywords().contains(line.mid(i, j - i))) push(i, j - i, Kind::Keyword);
            i = j;
            continue;
        }
        ++i;
    }
    return spans;
}
