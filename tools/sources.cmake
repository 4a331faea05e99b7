# The awqkit CLI: dispatcher, shared helpers, one file per subcommand.
set(AWQ_TOOL_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/awqkit.c
  ${CMAKE_CURRENT_LIST_DIR}/cli.c
)
