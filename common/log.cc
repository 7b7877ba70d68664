#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace hafs::log {

bool Init(const std::string& program, const std::string& level, const std::string& file) {
  bool ok = true;
  std::shared_ptr<spdlog::logger> logger;
  if (!file.empty()) {
    try {
      logger = spdlog::basic_logger_mt(program, file);
    } catch (const spdlog::spdlog_ex&) {
      ok = false;
    }
  }
  if (!logger) logger = spdlog::stderr_logger_mt(program);
  // "LEVEL program[pid]: message" without a timestamp when journald adds its own would be nicer,
  // but tests and plain terminals want the time.
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %n[%P]: %v");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    ok = false;
    lvl = spdlog::level::info;
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return ok;
}

}  // namespace hafs::log
