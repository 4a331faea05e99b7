# Sources of lib/text, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unicode.c
  ${CMAKE_CURRENT_LIST_DIR}/regex.c
  ${CMAKE_CURRENT_LIST_DIR}/bpe.c
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_json.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_normalizer.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_pretok.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_added.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_post.c
  ${CMAKE_CURRENT_LIST_DIR}/tok_decode.c
  ${CMAKE_CURRENT_LIST_DIR}/calib.c
)
