// Qt Test checks shared by the checkpoint reader tests: compare a Checkpoint with the fixture's
// expected.json, and expect an error with a given code whose message names what went wrong.
#pragma once

#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>

#include "core/dtype.h"
#include "io/checkpoint.h"
#include "support/test_support.h"

namespace tessera::test {

inline float element(const Tensor& t, int64_t i) {
    if (t.dtype == DType::F32) return t.as<const float>()[i];
    const uint16_t h = t.as<const uint16_t>()[i];
    return t.dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// Every tensor of the checkpoint against expected.json[section]: names, dtypes, shapes, all values.
inline void check_expected(const Checkpoint& ckpt, const std::string& section) {
    const nlohmann::json all = nlohmann::json::parse(read_file(fixture("io/expected.json")));
    const nlohmann::json& exp = all.at(section);
    QCOMPARE(ckpt.tensors().size(), exp.size());
    for (const auto& [name, e] : exp.items()) {
        const TensorEntry* t = ckpt.find(name);
        QVERIFY2(t, name.c_str());
        QCOMPARE(QString::fromStdString(std::string(dtype_name(t->tensor.dtype))),
                 QString::fromStdString(e.at("dtype").get<std::string>()));
        QCOMPARE(t->tensor.shape.ndim, int(e.at("shape").size()));
        for (int d = 0; d < t->tensor.shape.ndim; ++d) QCOMPARE(t->tensor.shape[d], e.at("shape")[size_t(d)].get<int64_t>());
        const auto& values = e.at("values");
        QCOMPARE(size_t(t->tensor.numel()), values.size());
        QVERIFY(reinterpret_cast<uintptr_t>(t->tensor.data) % dtype_size(t->tensor.dtype) == 0);
        for (size_t i = 0; i < values.size(); ++i) QCOMPARE(element(t->tensor, int64_t(i)), values[i].get<float>());
    }
}

// Expects failure with `code` and a message containing each needle.
template <class R>
void expect_error(const R& r, ErrorCode code, std::initializer_list<std::string> needles) {
    QVERIFY2(!r.ok(), ("expected an error containing '" + (needles.size() ? *needles.begin() : std::string()) + "'").c_str());
    const std::string msg = r.error().message;
    QVERIFY2(r.error().code == code, (std::string("wrong code: ") + r.error().to_string()).c_str());
    for (const std::string& n : needles)
        QVERIFY2(msg.find(n) != std::string::npos, ("'" + n + "' not in: " + msg).c_str());
}

}  // namespace tessera::test
