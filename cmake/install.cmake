# `cmake --install`: the program, the shared and static libraries, headers,
# pkg-config and CMake package files, and the bundled data, in three
# components: runtime (program, libawqkit.so, data — what the Python wheel
# takes), devel (headers, libawqkit.a, the .so link, awqkit.pc, CMake
# package) and doc (man pages, bash completion; cmake/docs.cmake).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The library finds its data relative to its own file at run time
# (lib/api/datadir.c): from the bindir (a program linked statically) or the
# libdir (libawqkit.so) to DATADIR/awqkit. Relative paths only, so an
# installed tree can be moved; the build tree gets BUILD/share/awqkit.
file(RELATIVE_PATH AWQ_REL_BIN_DATA ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_DATADIR}/awqkit)
file(RELATIVE_PATH AWQ_REL_LIB_DATA ${CMAKE_INSTALL_FULL_LIBDIR} ${CMAKE_INSTALL_FULL_DATADIR}/awqkit)
set_property(SOURCE ${PROJECT_SOURCE_DIR}/lib/api/datadir.c APPEND PROPERTY COMPILE_DEFINITIONS
  AWQ_DATADIR_FROM_BINDIR="${AWQ_REL_BIN_DATA}" AWQ_DATADIR_FROM_LIBDIR="${AWQ_REL_LIB_DATA}")
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/share/awqkit)
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/data/text ${CMAKE_BINARY_DIR}/share/awqkit/text
     SYMBOLIC COPY_ON_ERROR)

if(AWQ_BUILD_TOOLS)
  install(TARGETS awqkit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()
install(TARGETS awqkit ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel)
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT devel)
install(FILES ${PROJECT_SOURCE_DIR}/data/text/calib-wikitext2-valid.jsonl.zst
              ${PROJECT_SOURCE_DIR}/data/text/wiki.test.raw
        DESTINATION ${CMAKE_INSTALL_DATADIR}/awqkit/text COMPONENT runtime)

if(AWQ_BUILD_SHARED)
  install(TARGETS awqkit_shared EXPORT awqkitTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
                  NAMELINK_COMPONENT devel)
  set(AWQ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/awqkit)
  install(EXPORT awqkitTargets NAMESPACE awqkit:: DESTINATION ${AWQ_CMAKE_DIR}
          COMPONENT devel)
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/awqkitConfig.cmake.in
    ${CMAKE_BINARY_DIR}/awqkitConfig.cmake INSTALL_DESTINATION ${AWQ_CMAKE_DIR})
  # 0.x: minor releases may break the API, so only the same minor matches.
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/awqkitConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/awqkitConfig.cmake ${CMAKE_BINARY_DIR}/awqkitConfigVersion.cmake
          DESTINATION ${AWQ_CMAKE_DIR} COMPONENT devel)

  # awqkit.pc, relocatable: paths relative to the .pc file's own directory.
  file(RELATIVE_PATH AWQ_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" AWQ_PC_TO_PREFIX "${AWQ_PC_TO_PREFIX}")
  foreach(d LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
      set(AWQ_PC_${d} "${CMAKE_INSTALL_${d}}")
    else()
      set(AWQ_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
    endif()
  endforeach()
  set(AWQ_PC_DL "")
  if(CMAKE_DL_LIBS)
    set(AWQ_PC_DL "-l${CMAKE_DL_LIBS}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/awqkit.pc.in ${CMAKE_BINARY_DIR}/awqkit.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/awqkit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT devel)
endif()
include(${CMAKE_CURRENT_LIST_DIR}/docs.cmake)
