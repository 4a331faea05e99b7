# Sources of lib/io, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.c
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.c
  ${CMAKE_CURRENT_LIST_DIR}/fp8src.c
  ${CMAKE_CURRENT_LIST_DIR}/tensor_check.c
  ${CMAKE_CURRENT_LIST_DIR}/writer.c
  ${CMAKE_CURRENT_LIST_DIR}/outlock.c
  ${CMAKE_CURRENT_LIST_DIR}/publish.c
)
