# Runs at install time (cmake --install, cpack): installs the systemd units, the mgmtd wait
# helper, example configurations and the docs. Paths follow the prefix *of this install*,
# not of the configure step, so `cmake --install build --prefix /usr` and the .deb (prefix
# /usr) get /etc, while any other prefix P keeps everything below P (P/etc, P/lib/systemd).
# Set by Packaging.cmake before this script: HAFS_PACKAGING_DIR, HAFS_DOCS_DIR, HAFS_STAGING_DIR.

set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(_prefix STREQUAL "/usr")
  set(HAFS_SYSCONFDIR "/etc")
else()
  set(HAFS_SYSCONFDIR "${_prefix}/etc")
endif()
set(HAFS_BINDIR "${_prefix}/bin")
set(HAFS_SBINDIR "${_prefix}/sbin")
set(HAFS_LIBEXECDIR "${_prefix}/lib/hafs")
set(HAFS_DOCDIR "${_prefix}/share/doc/hafs")
# systemd reads units from /usr/lib/systemd/system and /usr/local/lib/systemd/system.
set(_unitdir "${_prefix}/lib/systemd/system")

set(_stage "${HAFS_STAGING_DIR}/install-extras")
file(REMOVE_RECURSE "${_stage}")
file(MAKE_DIRECTORY "${_stage}")
foreach(unit hafs-mgmtd.service hafs-lb.service hafs-vipd.service)
  configure_file("${HAFS_PACKAGING_DIR}/systemd/${unit}.in" "${_stage}/${unit}" @ONLY)
endforeach()
configure_file("${HAFS_PACKAGING_DIR}/hafs-mgmtd-wait.in" "${_stage}/hafs-mgmtd-wait" @ONLY)
configure_file("${HAFS_PACKAGING_DIR}/etc/hafs-mgmtd.default" "${_stage}/hafs-mgmtd" COPYONLY)

file(INSTALL "${_stage}/hafs-mgmtd.service" "${_stage}/hafs-lb.service" "${_stage}/hafs-vipd.service"
     DESTINATION "${_unitdir}" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${_stage}/hafs-mgmtd-wait" DESTINATION "${HAFS_LIBEXECDIR}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
file(INSTALL "${_stage}/hafs-mgmtd" DESTINATION "${HAFS_SYSCONFDIR}/default"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${HAFS_PACKAGING_DIR}/etc/hafs-lb.cfg.example" "${HAFS_PACKAGING_DIR}/etc/hafs-vipd.conf.example"
     DESTINATION "${HAFS_SYSCONFDIR}/hafs" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(GLOB _docs "${HAFS_DOCS_DIR}/*.md")
file(INSTALL ${_docs} DESTINATION "${HAFS_DOCDIR}" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
