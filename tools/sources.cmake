# The awqkit CLI: dispatcher, shared helpers, one file per subcommand.
set(AWQ_TOOL_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/awqkit.c
  ${CMAKE_CURRENT_LIST_DIR}/cli.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_quantize.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_repack.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_verify.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_inspect.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_count.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_size.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_synth.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_tokenize.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_ppl.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_audit.c
)
