# Run by `cmake --install` (and by CPack's staging install): places the example configuration
# and the systemd unit, with the paths of this install. CMAKE_INSTALL_PREFIX is the install's
# own here (what --prefix or the package chose), not the one of the build.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(sysconfdir "/etc")
else()
  set(sysconfdir "${prefix}/etc")
endif()

set(BOUNCER_BIN "${prefix}/${BOUNCER_INSTALL_BINDIR}/bouncer")
set(BOUNCER_CONFIG "${sysconfdir}/bouncer/bouncer.toml")
set(BOUNCER_DOC_DIR "${prefix}/${BOUNCER_INSTALL_DOCDIR}")
configure_file("${BOUNCER_PACKAGING_DIR}/bouncer.service.in" "${BOUNCER_UNIT_OUT}" @ONLY)
file(INSTALL "${BOUNCER_UNIT_OUT}" DESTINATION "${prefix}/lib/systemd/system")

# An operator's edited configuration is never overwritten by a later install.
if(EXISTS "$ENV{DESTDIR}${BOUNCER_CONFIG}")
  message(STATUS "Kept: $ENV{DESTDIR}${BOUNCER_CONFIG}")
else()
  file(INSTALL "${BOUNCER_PACKAGING_DIR}/bouncer.toml" DESTINATION "${sysconfdir}/bouncer")
endif()
