// Logging for every hafs daemon and tool: leveled lines on stderr (journald-friendly)
// or to a file. A thin layer over spdlog so the sink and format are chosen in one place.
// Thread-safety: all functions may be called from any thread after Init().
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace hafs::log {

// level: trace|debug|info|warn|error|critical|off. file: empty = stderr.
// Returns false (and keeps logging to stderr) if the level or file is invalid.
bool Init(const std::string& program, const std::string& level = "info", const std::string& file = "");

}  // namespace hafs::log

#define HAFS_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define HAFS_LOG_DEBUG(...) spdlog::debug(__VA_ARGS__)
#define HAFS_LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define HAFS_LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define HAFS_LOG_ERROR(...) spdlog::error(__VA_ARGS__)
