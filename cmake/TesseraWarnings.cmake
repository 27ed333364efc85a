# Warnings are errors in our own code (never in third-party headers, which come in as SYSTEM includes).
function(tessera_warnings target)
  # -Wnull-dereference is left out: newer GCCs report false positives inside nlohmann-json at -O3.
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
      -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Werror>)
endfunction()
