# Warnings are errors in our own code (never in third-party headers, which come in as SYSTEM includes).
# TESSERA_WERROR=OFF keeps the warnings but not the failure: for builds with other compilers (the GPU
# machine's newer GCC) where a new warning must not cost a whole remote run.
option(TESSERA_WERROR "Treat warnings in Tessera's own code as errors" ON)
function(tessera_warnings target)
  # -Wnull-dereference is left out: newer GCCs report false positives inside nlohmann-json at -O3.
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
      -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>)
  if(TESSERA_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()
