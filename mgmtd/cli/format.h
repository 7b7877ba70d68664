// Rendering of mgmtd replies for the CLI: gluster-like text for people, JSON for scripts.
// Pure functions of the replies. Thread-safety: none needed.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "proto/mgmt.pb.h"

namespace hafs::cli {

std::string PeerStatusText(const mgmtpb::PoolReply& r);
std::string PoolListText(const mgmtpb::PoolReply& r);
nlohmann::json PoolJson(const mgmtpb::PoolReply& r);

std::string VolumeInfoText(const mgmtpb::VolumeInfoReply& r);
nlohmann::json VolumeJson(const mgmtpb::Volume& v);

std::string VolumeStatusText(const mgmtpb::VolumeStatusReply& r);
nlohmann::json VolumeStatusJson(const mgmtpb::VolumeStatusReply& r);

std::string VolumeGetText(const mgmtpb::VolumeGetReply& r);
nlohmann::json VolumeGetJson(const mgmtpb::VolumeGetReply& r);

std::string HealInfoText(const mgmtpb::HealInfoReply& r);
nlohmann::json HealInfoJson(const mgmtpb::HealInfoReply& r);

}  // namespace hafs::cli
