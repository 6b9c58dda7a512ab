# Install layout of clawd (included from the top-level CMakeLists.txt; decisions in
# deploy/README.md). With `--prefix /usr` (the package, `cmake --install build --prefix /usr`):
#
#   /usr/bin/clawd, clawctl, clawbench           component server (clawd), tools (the others)
#   /usr/lib/systemd/system/clawd.service        server
#   /usr/lib/sysusers.d/clawd.conf               server
#   /etc/clawd/clawd.yaml                        server (never overwrites an existing one)
#   /usr/share/doc/clawd/README.md, deploy/README.md, examples/{config,prometheus,grafana}/   doc
#
# The unit and the config directory follow the prefix *at install time*, which GNUInstallDirs
# cannot do: its CMAKE_INSTALL_FULL_SYSCONFDIR is fixed when the tree is configured (for the
# default prefix /usr/local that is /usr/local/etc, even if `cmake --install --prefix /usr`
# comes later). So the unit and the config are installed by install(CODE) that computes the
# directories from the install-time CMAKE_INSTALL_PREFIX: prefix / or /usr -> /etc (as
# GNUInstallDirs does), an absolute CMAKE_INSTALL_SYSCONFDIR as is, else <prefix>/<sysconfdir>.
# The unit's ExecStart, config path and documentation link are rewritten to match, so a
# /usr/local install gets a unit that starts /usr/local/bin/clawd. Units and sysusers files go
# under <prefix>/lib (never the multiarch CMAKE_INSTALL_LIBDIR): systemd reads /usr/lib/... and
# /usr/local/lib/... alike.
include(GNUInstallDirs)

install(TARGETS clawd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
foreach(tool IN ITEMS clawctl clawbench)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
  endif()
endforeach()

install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/clawd.sysusers
        DESTINATION lib/sysusers.d RENAME clawd.conf COMPONENT server)

# install(CODE) runs inside cmake_install.cmake: CMAKE_INSTALL_PREFIX is the install-time
# prefix there, and file(INSTALL) adds $DESTDIR and records the install manifest.
set(claw_deploy_source "${PROJECT_SOURCE_DIR}/deploy")
set(claw_deploy_binary "${PROJECT_BINARY_DIR}/deploy")
install(CODE "
  set(claw_source \"${claw_deploy_source}\")
  set(claw_binary \"${claw_deploy_binary}\")
  set(claw_bindir \"${CMAKE_INSTALL_BINDIR}\")
  set(claw_sysconfdir \"${CMAKE_INSTALL_SYSCONFDIR}\")
  set(claw_docdir \"${CMAKE_INSTALL_DOCDIR}\")
" COMPONENT server)
install(CODE [[
  if(IS_ABSOLUTE "${claw_sysconfdir}")
    set(claw_etc "${claw_sysconfdir}")
  elseif(CMAKE_INSTALL_PREFIX STREQUAL "/" OR CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(claw_etc "/etc")
  else()
    set(claw_etc "${CMAKE_INSTALL_PREFIX}/${claw_sysconfdir}")
  endif()
  string(REGEX REPLACE "/$" "" claw_prefix "${CMAKE_INSTALL_PREFIX}")

  # The unit as shipped names /usr paths; rewrite them for this prefix.
  file(READ "${claw_source}/systemd/clawd.service" claw_unit)
  foreach(claw_expected IN ITEMS "ExecStart=/usr/bin/clawd --config /etc/clawd/clawd.yaml"
                                 "file:/usr/share/doc/clawd/")
    string(FIND "${claw_unit}" "${claw_expected}" claw_at)
    if(claw_at EQUAL -1)
      message(FATAL_ERROR "deploy/systemd/clawd.service no longer contains '${claw_expected}'; "
                          "update deploy/install.cmake with it")
    endif()
  endforeach()
  string(REPLACE "ExecStart=/usr/bin/clawd --config /etc/clawd/clawd.yaml"
                 "ExecStart=${claw_prefix}/${claw_bindir}/clawd --config ${claw_etc}/clawd/clawd.yaml"
                 claw_unit "${claw_unit}")
  string(REPLACE "file:/usr/share/doc/clawd/" "file:${claw_prefix}/${claw_docdir}/"
                 claw_unit "${claw_unit}")
  file(WRITE "${claw_binary}/clawd.service" "${claw_unit}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${claw_binary}/clawd.service")

  # The config is the administrator's once installed: keep an existing one.
  if(EXISTS "$ENV{DESTDIR}${claw_etc}/clawd/clawd.yaml")
    message(STATUS "Keeping: $ENV{DESTDIR}${claw_etc}/clawd/clawd.yaml (the shipped one is "
                   "${claw_prefix}/${claw_docdir}/examples/config/clawd.yaml)")
  else()
    file(INSTALL DESTINATION "${claw_etc}/clawd" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES "${claw_source}/config/clawd.yaml")
  endif()
]] COMPONENT server)

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT doc)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/deploy COMPONENT doc)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/config ${PROJECT_SOURCE_DIR}/deploy/prometheus
                  ${PROJECT_SOURCE_DIR}/deploy/grafana
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT doc)
