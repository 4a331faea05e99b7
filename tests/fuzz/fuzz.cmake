# Fuzz targets: libFuzzer builds (AWQ_FUZZ=ON, clang) and corpus replay in ctest.
#
# Add a target with one line at the end of this file:
#   awq_add_fuzz(NAME SOURCE CORPUS)
# e.g. awq_add_fuzz(tokenizer fuzz_tokenizer.c corpus/tokenizer)
# SOURCE (in tests/fuzz/) defines LLVMFuzzerTestOneInput; CORPUS is a
# directory under tests/fuzz/ holding seed inputs (commit valid and invalid
# ones, and every crasher found). This gives:
#   replay_NAME   always built; ctest `fuzz_replay_NAME` (label fuzz) runs
#                 every corpus file through the target (no libFuzzer needed;
#                 sanitized when configured with -DAWQ_SANITIZE=ON).
#   fuzz_NAME     with -DAWQ_FUZZ=ON and clang: a libFuzzer binary with
#                 ASan + UBSan, linked against awqkit_fuzz (the library
#                 rebuilt with coverage instrumentation). Run it as
#                   fuzz_NAME -max_total_time=120 NEW_DIR tests/fuzz/CORPUS
#                 (fuzz_safetensors: add -dict=tests/fuzz/safetensors.dict)
#                 (new inputs go to NEW_DIR; crashes to ./crash-*).
# Fuzz builds: CC=clang cmake -S . -B /tmp/build-fuzz -DAWQ_FUZZ=ON -DAWQ_CUDA=OFF
set(AWQ_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

if(AWQ_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "AWQ_FUZZ=ON needs clang (libFuzzer): configure with CC=clang")
  endif()
  set(AWQ_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  # The library again, instrumented for coverage (fuzzer-no-link) so
  # libFuzzer sees inside the code under test.
  set(_awq_fuzz_srcs ${AWQ_LIB_SOURCES})
  list(FILTER _awq_fuzz_srcs EXCLUDE REGEX "\\.cu$")
  add_library(awqkit_fuzz STATIC ${_awq_fuzz_srcs})
  target_include_directories(awqkit_fuzz PUBLIC ${PROJECT_SOURCE_DIR}/include
                             PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/kernels)
  # -Wno-psabi: source-file flags (set per directory) do not reach this copy
  target_compile_options(awqkit_fuzz PRIVATE -Wno-psabi -fsanitize=fuzzer-no-link,address,undefined
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  get_target_property(_awq_libs awqkit LINK_LIBRARIES)
  target_link_libraries(awqkit_fuzz PUBLIC ${_awq_libs})
  get_target_property(_awq_defs awqkit COMPILE_DEFINITIONS)
  if(_awq_defs)
    target_compile_definitions(awqkit_fuzz PUBLIC ${_awq_defs})
  endif()
endif()

function(awq_add_fuzz name source corpus)
  set(src ${AWQ_FUZZ_DIR}/${source})
  add_executable(replay_${name} ${src} ${AWQ_FUZZ_DIR}/replay_main.c)
  target_include_directories(replay_${name} PRIVATE ${PROJECT_SOURCE_DIR}/lib
                             ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(replay_${name} PRIVATE $<$<COMPILE_LANGUAGE:C>:${AWQ_WARNINGS}>)
  target_link_libraries(replay_${name} PRIVATE awqkit)
  add_test(NAME fuzz_replay_${name} COMMAND replay_${name} ${AWQ_FUZZ_DIR}/${corpus})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  if(AWQ_FUZZ)
    add_executable(fuzz_${name} ${src})
    target_include_directories(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR}/lib
                               ${PROJECT_SOURCE_DIR}/tests)
    target_compile_options(fuzz_${name} PRIVATE ${AWQ_FUZZ_FLAGS})
    target_link_options(fuzz_${name} PRIVATE ${AWQ_FUZZ_FLAGS})
    target_link_libraries(fuzz_${name} PRIVATE awqkit_fuzz)
  endif()
endfunction()

awq_add_fuzz(safetensors fuzz_safetensors.c corpus/safetensors)
awq_add_fuzz(config fuzz_config.c corpus/config)
awq_add_fuzz(tokenizer fuzz_tokenizer.c corpus/tokenizer)
