// Names and formatting of engine errors.
#include "tessera/error.h"

namespace tessera {

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::Io: return "I/O error";
        case ErrorCode::Format: return "Format error";
        case ErrorCode::Shape: return "Shape error";
        case ErrorCode::DType: return "DType error";
        case ErrorCode::Config: return "Config error";
        case ErrorCode::Unsupported: return "Unsupported";
        case ErrorCode::Tokenizer: return "Tokenizer error";
        case ErrorCode::InvalidArgument: return "Invalid argument";
        case ErrorCode::OutOfMemory: return "Out of memory";
        case ErrorCode::Device: return "Device error";
        case ErrorCode::Cancelled: return "Cancelled";
        case ErrorCode::Internal: return "Internal error";
    }
    return "Error";
}

std::string Error::to_string() const { return std::string(error_code_name(code)) + ": " + message; }

}  // namespace tessera
