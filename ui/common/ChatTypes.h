// Plain value types shared by the views, their item models and the app's workers. They cross threads
// inside queued signals, so they are copyable values with no pointers into either side.
#pragma once

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

// Sampling settings of one conversation (or the defaults in Settings).
struct SamplingSettings {
    double temperature = 0.6;
    double topP = 0.95;
    int maxNewTokens = 1024;
    bool operator==(const SamplingSettings&) const = default;
};

// One row of the sidebar.
struct ConversationSummary {
    qint64 id = 0;
    QString title;
    bool pinned = false;
    QDateTime updatedAt;
    QString modelPath;     // the model this conversation talks to ("" = the default)
    QString systemPrompt;
    SamplingSettings sampling;
    QString snippet;       // search results only: the matched text with <b>…</b> around hits
};

// One message of a conversation's tree. Branches are siblings (same parentId).
struct ChatMessage {
    enum class Role { System, User, Assistant };
    enum class State { Complete, Streaming, Stopped, Failed };

    qint64 id = 0;        // storage id once saved; negative while only on screen
    qint64 parentId = 0;  // 0 = root
    Role role = Role::User;
    State state = State::Complete;
    QString content;
    QString thinking;     // R1 reasoning, shown apart from the answer
    double thinkingSeconds = 0.0;
    QStringList imagePaths;  // attachments, as files in the data folder
    QString modelName;
    int promptTokens = 0;
    int generatedTokens = 0;
    double tokensPerSecond = 0.0;
    QDateTime createdAt;
};

// A model folder (or .gguf file) found by the model manager, as probed by the engine.
struct ModelEntry {
    enum class Kind { Chat, Vision, ImageGeneration, Gguf, Broken };
    enum class State { Unloaded, Loading, Loaded };

    QString path;
    QString name;
    Kind kind = Kind::Chat;
    State state = State::Unloaded;
    QString architecture;
    QString dtype;
    qint64 parameters = 0;
    qint64 fileBytes = 0;
    qint64 memoryBytes = 0;     // estimated need when loaded
    qint64 availableBytes = 0;  // what this machine has for it
    int contextLength = 0;
    bool thinks = false;        // R1-style <think> output
    bool seesImages = false;
    bool generatesImages = false;  // text-to-image (Janus-Pro): listed by the Images pane
    double loadProgress = 0.0;  // 0..1 while loading
    QString error;              // why the folder cannot be used (Broken)
    QString hint;               // what to do about it
};

// What the engine reports about a finished or interrupted reply.
struct GenerationStats {
    int promptTokens = 0;
    int generatedTokens = 0;
    double seconds = 0.0;
    double tokensPerSecond = 0.0;
    double thinkingSeconds = 0.0;
};

// An engine or storage failure as the GUI shows it.
struct AppError {
    enum class Kind { BadModel, OutOfMemory, Cancelled, Io, DiskFull, Unsupported, Internal };
    Kind kind = Kind::Internal;
    QString message;  // one line for the banner
    QString detail;   // the full text behind "Details"
};

QString formatBytes(qint64 bytes);
QString formatParameters(qint64 count);
QString modelKindName(ModelEntry::Kind kind);

Q_DECLARE_METATYPE(SamplingSettings)
Q_DECLARE_METATYPE(ConversationSummary)
Q_DECLARE_METATYPE(ChatMessage)
Q_DECLARE_METATYPE(ModelEntry)
Q_DECLARE_METATYPE(GenerationStats)
Q_DECLARE_METATYPE(AppError)
