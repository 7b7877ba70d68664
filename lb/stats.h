// The statistics pages: HTML (HAProxy-like table with admin buttons), CSV
// (`;csv`, same columns as HAProxy's `show stat` where they exist) and Prometheus
// text format (`/metrics`, with latency histograms), all behind basic auth.
// Thread-safety: renders read atomics only; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "lb/http_parser.h"
#include "lb/runtime.h"

namespace hafs::lb {

class Lb;

bool IsStatsRequest(const FrontendRt& fe, std::string_view uri);
// Builds a complete HTTP response (status line to body) for a stats request.
std::string StatsResponse(Lb& lb, const Runtime& rt, const FrontendRt& fe, const http::Head& req, std::string_view body,
                          bool keep_alive, int* status);

std::string RenderCsv(const Runtime& rt);
std::string RenderHtml(const Runtime& rt, const FrontendRt& fe);
std::string RenderPrometheus(const Runtime& rt);

// Basic-auth check of an Authorization header against "user:password" entries.
bool CheckBasicAuth(std::string_view authorization, const std::vector<std::string>& users);
std::string Base64Decode(std::string_view in);

}  // namespace hafs::lb
