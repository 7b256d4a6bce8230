# `cmake --install`: the headers, the library, a CMake package (find_package(BouncerClient))
# and a pkg-config file (bouncer-client.pc), all in the component `bouncer_client`.
# Inside the server's build the component is left out of a full install, so the server's
# package does not ship the client; `cmake --install BUILD --component bouncer_client` still
# installs it.
include(CMakePackageConfigHelpers)

if(BOUNCER_CLIENT_TOP_LEVEL)
  set(_client_exclude "")
else()
  set(_client_exclude EXCLUDE_FROM_ALL)
endif()

set(BOUNCER_CLIENT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/BouncerClient)

install(TARGETS bouncer_client EXPORT BouncerClientTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT bouncer_client ${_client_exclude}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT bouncer_client ${_client_exclude}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT bouncer_client ${_client_exclude}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/bouncer ${PROJECT_BINARY_DIR}/generated/bouncer
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT bouncer_client ${_client_exclude})
install(EXPORT BouncerClientTargets NAMESPACE BouncerClient:: DESTINATION ${BOUNCER_CLIENT_CMAKE_DIR}
  COMPONENT bouncer_client ${_client_exclude})

configure_package_config_file(cmake/BouncerClientConfig.cmake.in
  ${PROJECT_BINARY_DIR}/BouncerClientConfig.cmake INSTALL_DESTINATION ${BOUNCER_CLIENT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/BouncerClientConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/BouncerClientConfig.cmake ${PROJECT_BINARY_DIR}/BouncerClientConfigVersion.cmake
  DESTINATION ${BOUNCER_CLIENT_CMAKE_DIR} COMPONENT bouncer_client ${_client_exclude})

# A static library's users link its dependencies themselves; a shared one's do not.
if(BUILD_SHARED_LIBS)
  set(BOUNCER_CLIENT_PC_REQUIRES_PRIVATE "openssl")
  set(BOUNCER_CLIENT_PC_LIBS "-lbouncer_client")
  set(BOUNCER_CLIENT_PC_LIBS_PRIVATE "-lboost_json -pthread")
else()
  set(BOUNCER_CLIENT_PC_REQUIRES_PRIVATE "")
  set(BOUNCER_CLIENT_PC_REQUIRES "openssl")
  set(BOUNCER_CLIENT_PC_LIBS "-lbouncer_client -lboost_json -pthread")
  set(BOUNCER_CLIENT_PC_LIBS_PRIVATE "")
endif()
# The prefix is found from the .pc file's own place, so `cmake --install --prefix` anywhere works.
file(RELATIVE_PATH BOUNCER_CLIENT_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" BOUNCER_CLIENT_PC_TO_PREFIX "${BOUNCER_CLIENT_PC_TO_PREFIX}")
configure_file(cmake/bouncer-client.pc.in ${PROJECT_BINARY_DIR}/bouncer-client.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/bouncer-client.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT bouncer_client ${_client_exclude})
