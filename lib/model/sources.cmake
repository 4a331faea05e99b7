# Sources of lib/model, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/arch.c
  ${CMAKE_CURRENT_LIST_DIR}/config.c
  ${CMAKE_CURRENT_LIST_DIR}/synth.c
  ${CMAKE_CURRENT_LIST_DIR}/synth_mla.c
  ${CMAKE_CURRENT_LIST_DIR}/forward.c
  ${CMAKE_CURRENT_LIST_DIR}/model_load.c
  ${CMAKE_CURRENT_LIST_DIR}/moe.c
  ${CMAKE_CURRENT_LIST_DIR}/mla.c
  ${CMAKE_CURRENT_LIST_DIR}/moe_lset.c
  ${CMAKE_CURRENT_LIST_DIR}/ppl.c
  ${CMAKE_CURRENT_LIST_DIR}/rope.c
)
