# Warnings are errors in our own code (never in third-party headers, which come in as SYSTEM includes).
function(tessera_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
      -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough -Werror>)
endfunction()
