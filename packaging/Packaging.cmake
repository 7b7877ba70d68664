# Installation of what is not a binary (systemd units, example configs, docs) and the
# Debian package (CPack). Included once from the top-level CMakeLists.txt.
#   cmake --install build --prefix /usr      # binaries, units, /etc/hafs examples, docs
#   cpack --config build/CPackConfig.cmake   # hafs_0.1.0_amd64.deb (or: cmake --build build --target package)
# The binaries' own install() rules are in each component (hafs_binary).

install(CODE "set(HAFS_PACKAGING_DIR \"${CMAKE_CURRENT_LIST_DIR}\")
set(HAFS_DOCS_DIR \"${CMAKE_SOURCE_DIR}/docs\")
set(HAFS_STAGING_DIR \"${CMAKE_BINARY_DIR}/packaging\")")
install(SCRIPT "${CMAKE_CURRENT_LIST_DIR}/install-extras.cmake")

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "hafs")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "hafs project")
set(CPACK_PACKAGE_CONTACT "hafs maintainers <hafs@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "replicated filesystem and HA web front end (GlusterFS/HAProxy/keepalived replacement)")
set(CPACK_PACKAGE_DESCRIPTION
    "hafs-mgmtd and hafs-brickd (replicated volumes), the FUSE client (mount -t hafs),\
 hafs-lb (HAProxy-compatible balancer), hafs-vipd (keepalived-compatible VRRP) and\
 hafs-raid (md-compatible RAID5), with systemd units and example configurations.")
# The package installs below /usr; install-extras.cmake maps that prefix's etc to /etc.
# DESTDIR staging makes CPack run the install with CMAKE_INSTALL_PREFIX=/usr.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")  # hafs_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_COMPRESSION_TYPE "gzip")
# Shared-library dependencies computed by dpkg-shlibdeps (dpkg-dev) when it is there;
# fuse3 for /etc/fuse.conf and the kernel module setup the client relies on.
find_program(HAFS_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(HAFS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found: the .deb will only depend on fuse3 (install dpkg-dev)")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nginx-light, php-fpm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_LIST_DIR}/debian/conffiles;${CMAKE_CURRENT_LIST_DIR}/debian/postinst;${CMAKE_CURRENT_LIST_DIR}/debian/prerm;${CMAKE_CURRENT_LIST_DIR}/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
