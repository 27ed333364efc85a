// Error values returned across the engine's boundaries: libraries never abort, throw across the API, or
// exit; every failure names the file, tensor or field it concerns.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tessera {

enum class ErrorCode {
    Io,               // file missing, unreadable, short read, disk full
    Format,           // a file's bytes do not follow its format (safetensors, zip, pickle, json, gguf)
    Shape,            // a tensor's shape disagrees with the config
    DType,            // a tensor's dtype is not the one expected / supported
    Config,           // config.json field missing or wrong
    Unsupported,      // a valid input we do not handle (unknown architecture, unknown op)
    Tokenizer,        // tokenizer.json broken
    InvalidArgument,  // caller passed something wrong
    OutOfMemory,      // host or device allocation refused, or an estimate says it will not fit
    Device,           // CUDA / cuBLAS failure
    Cancelled,        // the caller's cancellation flag was set
    Internal,
};

const char* error_code_name(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;

    // "Format: model.safetensors: header length 9e18 exceeds file size 4096"
    std::string to_string() const;
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// A value or an Error. Kept deliberately small: C++20 has no std::expected.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(m_v); }
    Error&& take_error() { return std::get<1>(std::move(m_v)); }

private:
    std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)), m_ok(false) {}

    bool ok() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    const Error& error() const { return m_error; }
    Error&& take_error() { return std::move(m_error); }

private:
    Error m_error;
    bool m_ok = true;
};

using Status = Result<void>;

}  // namespace tessera

// Propagate an error from an expression yielding Result<T>/Status.
#define TESSERA_CONCAT_INNER(a, b) a##b
#define TESSERA_CONCAT(a, b) TESSERA_CONCAT_INNER(a, b)
#define TESSERA_TRY(expr)                                              \
    do {                                                               \
        auto&& tessera_try_result_ = (expr);                           \
        if (!tessera_try_result_.ok()) return tessera_try_result_.take_error(); \
    } while (0)
// TESSERA_ASSIGN(auto x, expr): declare x from a Result or propagate its error. Expands to several
// statements: never use it as the unbraced body of an if/for.
#define TESSERA_ASSIGN_IMPL(tmp, decl, expr)        \
    auto tmp = (expr);                              \
    if (!tmp.ok()) return tmp.take_error();         \
    decl = std::move(tmp).value()
#define TESSERA_ASSIGN(decl, expr) TESSERA_ASSIGN_IMPL(TESSERA_CONCAT(tessera_assign_, __LINE__), decl, expr)
