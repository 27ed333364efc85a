// tessera-cli generate and describe: text-to-image with a Janus-Pro folder (PNG files carrying the prompt,
// seed, guidance, temperature, model and software version as text chunks; progress on stderr) and a question
// about a picture (the answer streamed to stdout).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"
#include "tessera/engine.h"
#include "tessera/image.h"

#ifndef TESSERA_VERSION
#define TESSERA_VERSION "dev"
#endif

namespace tessera::cli {

namespace {

std::atomic<bool> g_image_cancel{false};

extern "C" void on_image_sigint(int) { g_image_cancel.store(true); }

std::string number(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

const char* phase_name(ImageGenerationProgress::Phase p) {
    switch (p) {
        case ImageGenerationProgress::Phase::Prompt: return "prompt";
        case ImageGenerationProgress::Phase::Tokens: return "tokens";
        case ImageGenerationProgress::Phase::Pixels: return "images";
    }
    return "?";
}

}  // namespace

int run_generate(int argc, char** argv) {
    const std::string cmd = "generate";
    ArgSpec spec;
    spec.flags = {"--quiet"};
    spec.options = {"--prompt", "--count", "--seed", "--cfg", "--temperature", "--image-tokens", "--out", "--device",
                    "--threads"};
    spec.aliases = {{"-p", "--prompt"}, {"-n", "--count"}, {"-o", "--out"}};
    std::string error;
    auto args = Args::parse(argc, argv, 2, spec, error);
    if (!args) return usage_error(cmd, error);
    if (args->positional().size() != 1) return usage_error(cmd, "expected one model folder DIR");
    const auto prompt = args->value("--prompt");
    if (!prompt) return usage_error(cmd, "-p PROMPT is required");
    const auto out_dir = args->value("--out");
    if (!out_dir) return usage_error(cmd, "--out DIR is required");

    ImageGenerationOptions opt;
    if (auto n = args->int_value("--count", 1, 16, error)) opt.count = int(*n);
    if (auto c = args->float_value("--cfg", 0.0, 100.0, error)) opt.cfg_weight = float(*c);
    if (auto t = args->float_value("--temperature", 0.0, 100.0, error)) opt.temperature = float(*t);
    if (auto k = args->int_value("--image-tokens", 1, 4096, error)) opt.image_tokens = int(*k);
    if (auto s = args->u64_value("--seed", error)) opt.seed = *s;
    else if (error.empty()) opt.seed = std::random_device{}();
    if (!error.empty()) return usage_error(cmd, error);
    LoadOptions load;
    if (int rc = read_load_options(cmd, *args, load); rc != kOk) return rc;

    const std::filesystem::path dir = args->positional()[0];
    auto model = Model::load(dir, load);
    if (!model) return fail(kModelError, model.error().to_string());
    if (!(*model)->info().image_generation)
        return fail(kModelError, dir.string() + ": this model does not generate images (a Janus-Pro folder does)");
    auto session = (*model)->open_session();
    if (!session) return fail(kModelError, session.error().to_string());

    std::error_code ec;
    std::filesystem::create_directories(*out_dir, ec);
    if (ec) return fail(kModelError, *out_dir + ": cannot create the folder (" + ec.message() + ")");

    const bool quiet = args->flag("--quiet");
    opt.cancel = &g_image_cancel;
    std::signal(SIGINT, on_image_sigint);
    // A terminal gets one line updated in place; a pipe or log one line per finished phase.
    const bool tty = isatty(fileno(stderr)) != 0;
    auto result = (*session)->generate_images(*prompt, opt, [&](const ImageGenerationProgress& p) {
        if (!quiet && (tty || p.step == p.total_steps)) {
            std::fprintf(stderr, tty ? "\r%s %d/%d  %.1f s   " : "%s %d/%d  %.1f s\n", phase_name(p.phase), p.step,
                         p.total_steps, p.elapsed_seconds);
            std::fflush(stderr);
        }
        return Flow::Continue;
    });
    std::signal(SIGINT, SIG_DFL);
    if (!quiet && tty) std::fputs("\n", stderr);
    if (!result) return fail(kModelError, result.error().to_string());

    std::string model_name = std::filesystem::absolute(dir).filename().string();
    if (model_name.empty()) model_name = std::filesystem::absolute(dir).parent_path().filename().string();
    const PngText text = {{"prompt", *prompt},
                          {"seed", std::to_string(opt.seed)},
                          {"cfg_weight", number(opt.cfg_weight)},
                          {"temperature", number(opt.temperature)},
                          {"model", model_name},
                          {"Software", std::string("Tessera ") + TESSERA_VERSION}};
    for (size_t i = 0; i < result->images.size(); ++i) {
        const std::filesystem::path file =
            std::filesystem::path(*out_dir) / ("image_" + std::to_string(opt.seed) + "_" + std::to_string(i) + ".png");
        if (Status st = write_png(file, result->images[i], text); !st) return fail(kModelError, st.error().to_string());
        std::cout << file.string() << "\n";
    }
    if (!quiet)
        std::fprintf(stderr, "seed %llu: prompt %.2f s, tokens %.2f s, decode %.2f s\n",
                     static_cast<unsigned long long>(opt.seed), result->prompt_seconds, result->token_seconds,
                     result->pixel_seconds);
    return kOk;
}

int run_describe(int argc, char** argv) {
    const std::string cmd = "describe";
    ArgSpec spec;
    spec.flags = {"--greedy", "--no-stats"};
    spec.options = {"--prompt", "--max-tokens", "--temperature", "--seed", "--device", "--threads"};
    spec.aliases = {{"-p", "--prompt"}};
    std::string error;
    auto args = Args::parse(argc, argv, 2, spec, error);
    if (!args) return usage_error(cmd, error);
    if (args->positional().size() != 2) return usage_error(cmd, "expected a model folder DIR and an IMAGE file");
    const std::string question = args->value("--prompt").value_or("Describe this image.");
    GenerateOptions opt;
    opt.max_tokens = 512;  // the official demos' limit (models.md §10)
    if (auto n = args->int_value("--max-tokens", 1, 1 << 20, error)) opt.max_tokens = int(*n);
    const auto temperature = args->float_value("--temperature", 0.0, 100.0, error);
    const auto seed = args->u64_value("--seed", error);
    if (!error.empty()) return usage_error(cmd, error);
    LoadOptions load;
    if (int rc = read_load_options(cmd, *args, load); rc != kOk) return rc;

    const std::filesystem::path dir = args->positional()[0];
    auto image = read_image(args->positional()[1]);
    if (!image) return fail(kModelError, image.error().to_string());
    auto model = Model::load(dir, load);
    if (!model) return fail(kModelError, model.error().to_string());
    if (!(*model)->info().vision_input)
        return fail(kModelError, dir.string() + ": this model does not take images (a Janus-Pro folder does)");
    if (!args->flag("--no-stats")) std::fprintf(stderr, "[running on %s]\n", (*model)->device_name().c_str());
    opt.sampling = default_sampling((*model)->info());
    if (temperature) {
        opt.sampling.temperature = float(*temperature);
        opt.sampling.greedy = *temperature == 0.0;
    }
    if (args->flag("--greedy")) opt.sampling.greedy = true;
    opt.sampling.seed = seed ? *seed : std::random_device{}();
    auto session = (*model)->open_session();
    if (!session) return fail(kModelError, session.error().to_string());

    g_image_cancel = false;
    opt.cancel = &g_image_cancel;
    std::signal(SIGINT, on_image_sigint);
    auto stats = (*session)->chat({Message("user", question, {std::move(*image)})}, opt, [](const TextEvent& e) {
        std::fputs(e.answer.c_str(), stdout);
        std::fflush(stdout);
        return Flow::Continue;
    });
    std::signal(SIGINT, SIG_DFL);
    std::fputs("\n", stdout);
    if (!stats) return fail(kModelError, stats.error().to_string());
    if (!args->flag("--no-stats"))
        std::fprintf(stderr, "%d prompt tokens, %d generated (%s), %.1f tokens/s\n", stats->prompt_tokens,
                     stats->generated_tokens, stop_reason_name(stats->stop_reason), stats->decode_tokens_per_second);
    return kOk;
}

}  // namespace tessera::cli
