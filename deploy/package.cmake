# The Debian package (cpack -G DEB in the build tree), included from the top-level CMakeLists.txt
# after deploy/install.cmake. It holds everything the install rules lay out with prefix /usr:
# binaries, unit, sysusers entry, /etc/clawd/clawd.yaml (a conffile) and the docs. The
# maintainer scripts in deploy/debian/ do what debhelper's dh_installsystemd and
# dh_installsysusers would; decisions in deploy/README.md.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME clawd)
set(CPACK_PACKAGE_VENDOR "clawd developers")
set(CPACK_PACKAGE_CONTACT "clawd developers <dev@clawd.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "clustered, strongly consistent key-value database")
# Debian's long description: CPack puts the summary on the Description line and indents this.
set(CPACK_PACKAGE_DESCRIPTION [[Each node hosts many Raft groups, one per shard of the ordered key space,
over one RocksDB instance; a placement service spreads replicas over zones,
racks and hosts. Clients use a gRPC API. The package holds the daemon clawd,
the admin CLI clawctl, the load generator clawbench, a hardened systemd unit,
a sysusers entry and example configurations, Prometheus alert rules and a
Grafana dashboard.]])
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# Install with prefix /usr into a staging DESTDIR, so that the install-time rules see /usr and
# put the config in /etc (deploy/install.cmake).
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Files under /etc are not conffiles unless listed: without this an upgrade overwrites edits.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
