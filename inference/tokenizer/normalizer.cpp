// NFC / NFD per UAX #15: full canonical decomposition, canonical ordering of combining marks, then
// (NFC) canonical composition of unblocked pairs. Hangul syllables are decomposed and composed
// arithmetically instead of through the tables.
#include "tokenizer/normalizer.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "tokenizer/utf8.h"

namespace tessera {
namespace {

struct CccRange {
    char32_t first, last;
    uint8_t ccc;
};
struct DecompEntry {
    char32_t cp;
    uint16_t offset;
    uint8_t length;
};
struct ComposeEntry {
    char32_t first, second, composite;
};
struct QcRange {
    char32_t first, last;
};

#include "tokenizer/unicode_tables.inc"

// Hangul constants (Unicode §3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

uint8_t ccc_of(char32_t cp) {
    if (cp < 0x300) return 0;  // nothing below U+0300 combines
    const auto it = std::upper_bound(std::begin(kCcc), std::end(kCcc), cp,
                                     [](char32_t c, const CccRange& r) { return c < r.first; });
    if (it == std::begin(kCcc)) return 0;
    const CccRange& r = *std::prev(it);
    return cp <= r.last ? r.ccc : 0;
}

void decompose_into(char32_t cp, std::vector<char32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const char32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    if (cp >= 0xC0) {
        const auto it = std::lower_bound(std::begin(kDecomp), std::end(kDecomp), cp,
                                         [](const DecompEntry& e, char32_t c) { return e.cp < c; });
        if (it != std::end(kDecomp) && it->cp == cp) {
            out.insert(out.end(), kDecompPool + it->offset, kDecompPool + it->offset + it->length);
            return;
        }
    }
    out.push_back(cp);
}

// The primary composite of (a, b), or 0.
char32_t compose_pair(char32_t a, char32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
        return a + (b - kTBase);
    const auto it = std::lower_bound(std::begin(kCompose), std::end(kCompose), std::pair{a, b},
                                     [](const ComposeEntry& e, const std::pair<char32_t, char32_t>& k) {
                                         return e.first != k.first ? e.first < k.first : e.second < k.second;
                                     });
    return it != std::end(kCompose) && it->first == a && it->second == b ? it->composite : 0;
}

bool qc_not_yes(char32_t cp) {
    if (cp < 0x300) return false;
    const auto it = std::upper_bound(std::begin(kNfcQcNotYes), std::end(kNfcQcNotYes), cp,
                                     [](char32_t c, const QcRange& r) { return c < r.first; });
    return it != std::begin(kNfcQcNotYes) && cp <= std::prev(it)->last;
}

}  // namespace

const char* unicode_tables_version() { return kUnicodeVersion; }

bool nfc_quick_check(std::string_view text) {
    uint8_t last_ccc = 0;
    for (size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {  // ASCII: class 0, always Yes
            last_ccc = 0;
            ++i;
            continue;
        }
        const char32_t cp = utf8::next(text, i);
        const uint8_t c = ccc_of(cp);
        if ((c != 0 && last_ccc > c) || qc_not_yes(cp)) return false;
        last_ccc = c;
    }
    return true;
}

std::string normalize(NormalForm form, std::string_view text) {
    if (form == NormalForm::NFC && nfc_quick_check(text)) return std::string(text);

    std::vector<char32_t> cps;
    cps.reserve(text.size());
    for (size_t i = 0; i < text.size();) decompose_into(utf8::next(text, i), cps);

    // Canonical ordering: a stable sort of every run of non-starters by combining class.
    std::vector<uint8_t> cls(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) cls[i] = ccc_of(cps[i]);
    for (size_t i = 0; i < cps.size();) {
        if (cls[i] == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < cps.size() && cls[j] != 0) ++j;
        for (size_t a = i + 1; a < j; ++a)  // insertion sort: runs are short and must stay stable
            for (size_t b = a; b > i && cls[b - 1] > cls[b]; --b) {
                std::swap(cls[b - 1], cls[b]);
                std::swap(cps[b - 1], cps[b]);
            }
        i = j;
    }

    if (form == NormalForm::NFC && !cps.empty()) {
        // Canonical composition: a character combines with the last starter unless a character of
        // the same or higher class (or a starter) stands between them.
        size_t starter = 0, out = 1;
        uint8_t last_class = cls[0] == 0 ? 0 : 255;  // a leading non-starter blocks until a starter
        bool have_starter = cls[0] == 0;
        for (size_t i = 1; i < cps.size(); ++i) {
            const uint8_t c = cls[i];
            if (have_starter && (last_class < c || last_class == 0)) {
                if (const char32_t comp = compose_pair(cps[starter], cps[i])) {
                    cps[starter] = comp;
                    continue;
                }
            }
            if (c == 0) {
                starter = out;
                have_starter = true;
            }
            last_class = c;
            cps[out++] = cps[i];
        }
        cps.resize(out);
    }

    std::string result;
    result.reserve(text.size());
    for (const char32_t cp : cps) utf8::append(result, cp);
    return result;
}

}  // namespace tessera
