# Packaging: the JSON-result API and Hub ids (unit), the installed tree as
# a consumer sees it (pkg-config and find_package), Hub ids through the
# CLI, and the generated man pages and completion.
awq_add_test(test_api SOURCES unit/test_api.c LABELS unit)
if(AWQ_BUILD_TOOLS)
  awq_add_script_test(hub_cli SCRIPT install/hub_cli.sh LABELS e2e)
  set_property(TEST hub_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
endif()
if(AWQ_BUILD_TOOLS AND AWQ_BUILD_SHARED AND AWQ_BUILD_DOCS)
  awq_add_script_test(install_tree SCRIPT install/install_tree.sh LABELS e2e TIMEOUT 300)
  set_property(TEST install_tree APPEND PROPERTY ENVIRONMENT
    "AWQ_BUILD=${CMAKE_BINARY_DIR};AWQ_CMAKE=${CMAKE_COMMAND};AWQ_CC=${CMAKE_C_COMPILER};AWQ_PKG_CONFIG=${PKG_CONFIG_EXECUTABLE};AWQ_JSON=$<TARGET_FILE:awq_json_get>")
  awq_add_script_test(docs_cli SCRIPT install/docs_cli.sh LABELS e2e)
  set_property(TEST docs_cli APPEND PROPERTY ENVIRONMENT "AWQ_BUILD=${CMAKE_BINARY_DIR}")
endif()
