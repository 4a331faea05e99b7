# Sources of lib/text, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unicode.c
  ${CMAKE_CURRENT_LIST_DIR}/regex.c
  ${CMAKE_CURRENT_LIST_DIR}/bpe.c
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.c
  ${CMAKE_CURRENT_LIST_DIR}/calib.c
)
