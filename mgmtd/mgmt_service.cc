#include "mgmtd/mgmt_service.h"

#include "mgmtd/ops/ops.h"

namespace hafs::mgmtd {

using grpc::ServerContext;
using grpc::Status;

Status MgmtService::PeerProbe(ServerContext*, const mgmtpb::ProbeRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::PeerProbe(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::PeerDetach(ServerContext*, const mgmtpb::DetachRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::PeerDetach(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::PoolList(ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::PoolReply* o) {
  ctx_->SyncRead();
  ops::PoolList(*ctx_, o);
  return Status::OK;
}
Status MgmtService::VolumeCreate(ServerContext*, const mgmtpb::VolumeCreateRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeCreate(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeStart(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeStart(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeStop(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeStop(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeDelete(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeDelete(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeInfo(ServerContext*, const mgmtpb::VolumeInfoRequest* r, mgmtpb::VolumeInfoReply* o) {
  ctx_->SyncRead();
  ops::VolumeInfo(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeStatus(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::VolumeStatusReply* o) {
  ctx_->SyncRead();
  ops::VolumeStatus(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeSet(ServerContext*, const mgmtpb::VolumeSetRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeSet(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeGet(ServerContext*, const mgmtpb::VolumeGetRequest* r, mgmtpb::VolumeGetReply* o) {
  ctx_->SyncRead();
  ops::VolumeGet(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeReset(ServerContext*, const mgmtpb::VolumeResetRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeReset(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::HealInfo(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::HealInfoReply* o) {
  ctx_->SyncRead();
  ops::HealInfo(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::Heal(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::Heal(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::HealInfoSplitBrain(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::HealInfoReply* o) {
  ctx_->SyncRead();
  ops::HealInfoSplitBrain(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::HealSplitBrain(ServerContext*, const mgmtpb::SplitBrainRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::HealSplitBrain(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeAddBrick(ServerContext*, const mgmtpb::AddBrickRequest* r, mgmtpb::Reply* o) {
  ctx_->SyncRead();
  ops::VolumeAddBrick(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeRebalance(ServerContext*, const mgmtpb::RebalanceRequest* r, mgmtpb::RebalanceReply* o) {
  ctx_->SyncRead();
  ops::VolumeRebalance(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::VolumeRemoveBrick(ServerContext*, const mgmtpb::RemoveBrickRequest* r, mgmtpb::RebalanceReply* o) {
  ctx_->SyncRead();
  ops::VolumeRemoveBrick(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::GetVolfile(ServerContext*, const mgmtpb::VolfileRequest* r, mgmtpb::VolfileReply* o) {
  ctx_->SyncRead();
  ops::GetVolfile(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::WatchVolfile(ServerContext* sctx, const mgmtpb::VolfileRequest* r,
                                 grpc::ServerWriter<mgmtpb::VolfileReply>* w) {
  return ops::WatchVolfile(*ctx_, sctx, *r, w);
}
Status MgmtService::StateDump(ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::StateDumpReply* o) {
  o->set_text(dump_());
  o->mutable_reply()->set_ok(true);
  return Status::OK;
}
Status MgmtService::Ping(ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::Reply* o) {
  o->set_ok(true);
  auto info = ctx_->raft->Info();
  if (info.role == RaftRole::kLeader) o->set_index(info.commit_index);
  return Status::OK;
}
Status MgmtService::Propose(ServerContext*, const mgmtpb::ProposeRequest* r, mgmtpb::Reply* o) {
  // Only the leader accepts forwarded proposals; no second hop.
  uint64_t index = 0;
  FillReply(o, ctx_->raft->Propose(r->command(), ctx_->commit_timeout, nullptr, &index));
  o->set_index(index);
  return Status::OK;
}
Status MgmtService::Join(ServerContext*, const mgmtpb::JoinRequest* r, mgmtpb::JoinReply* o) {
  ops::Join(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::Leave(ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::Reply* o) {
  ops::Leave(*ctx_, o);
  return Status::OK;
}
Status MgmtService::CheckBricks(ServerContext*, const mgmtpb::CheckBricksRequest* r, mgmtpb::Reply* o) {
  ops::CheckBricks(*ctx_, *r, o);
  return Status::OK;
}
Status MgmtService::LocalBrickStatus(ServerContext*, const mgmtpb::VolumeRequest* r, mgmtpb::VolumeStatusReply* o) {
  ops::LocalBrickStatus(*ctx_, *r, o);
  return Status::OK;
}

}  // namespace hafs::mgmtd
