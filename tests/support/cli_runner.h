// Runs the built tessera-cli (CTest sets TESSERA_BIN_DIR to the build folder) with arguments and standard
// input, and collects its exit code and output; shared by the CLI tests.
#pragma once

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>

#include <cstdlib>
#include <string>

namespace tessera::test {

struct CliRun {
    int code = -1;  // -1: did not start, crashed or timed out
    std::string out, err;
};

inline QString cliPath() {
    const char* bin = std::getenv("TESSERA_BIN_DIR");
    return QString::fromLocal8Bit(bin ? bin : "") + "/inference/tessera-cli";
}

inline CliRun runCli(const QStringList& args, const QByteArray& input = {}, int timeout_ms = 120000) {
    QProcess p;
    p.start(cliPath(), args);
    CliRun r;
    if (!p.waitForStarted(10000)) return r;
    p.write(input);
    p.closeWriteChannel();
    if (!p.waitForFinished(timeout_ms)) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput().toStdString();
    r.err = p.readAllStandardError().toStdString();
    return r;
}

}  // namespace tessera::test
