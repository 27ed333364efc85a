// Chat prompt formats of each model family (models.md §2.4, §3.4, §9), and the split of an R1 reply into
// its thinking and its answer.
#pragma once

#include <string>
#include <vector>

namespace tessera {

// Janus is Janus-Pro's form (role tokens <|User|>/<|Assistant|>); JanusPlain is the same template with the
// plain "User"/"Assistant" roles of the first Janus (Janus-1.3B, models.md §7.5, §11.38).
enum class ChatFormat { DeepSeekLlm, R1Distill, Janus, JanusPlain };

struct ChatMessage {
    std::string role;  // "system" | "user" | "assistant"
    std::string content;
};

// Renders the conversation plus the generation prompt as text that already contains BOS: tokenize it
// with add_special = false.
//   DeepSeekLlm: BOS [sys\n\n] "User: u\n\n" "Assistant: a" EOS ... "Assistant:"
//   R1Distill:   BOS [sys] "<｜User｜>u" "<｜Assistant｜>a_after_last_</think>" EOS ... "<｜Assistant｜><think>\n"
//   Janus:       BOS sys "\n\n" "<|User|>: u\n\n" "<|Assistant|>: a" EOS ... "<|Assistant|>:" (models.md §7.4;
//                sys is the processor's default sentence unless a system message replaces it)
//   JanusPlain:  BOS sys "\n\n" "User: u\n\n" "Assistant: a" EOS ... "Assistant:" (the same rules)
// The Janus processor's default system prompt (VLChatProcessor.system_prompt, models.md §7.4).
extern const char* const kJanusSystemPrompt;

std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        const std::string& bos, const std::string& eos);

// Splits streamed R1 output (which starts inside <think>, since the prompt opened it) into thinking and
// answer. Tolerates a model that never closes </think> (all thinking) or that repeats <think>.
class ThinkSplitter {
public:
    explicit ThinkSplitter(bool starts_in_thinking) : m_in_think(starts_in_thinking) {}
    struct Delta {
        std::string thinking;
        std::string answer;
    };
    Delta push(const std::string& text);
    Delta flush();

private:
    bool m_in_think;
    std::string m_hold;  // a possible prefix of "<think>"/"</think>" held back
};

}  // namespace tessera
