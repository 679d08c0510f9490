-- Argo CD health check for syncjob.dev/SyncJob
-- (argocd-cm: resource.customizations.health.syncjob.dev_SyncJob).
--
-- Argo CD knows no health for custom resources it has never seen, so without
-- this a SyncJob is always "Healthy" and a paused one looks like any other.
-- It reads what the operator writes: status.observedGeneration and kstatus-
-- style conditions (Ready for GitOps, Reconciling/Stalled abnormal-true,
-- Paused, RetentionExceeded).  First match wins:
--   1. no status, or status for an older metadata.generation  -> Progressing
--   2. Stalled=True or RetentionExceeded=True                 -> Degraded
--      (before Suspended: a paused job whose change log is purged has lost
--      events, and only a new snapshot repairs it; that must not hide)
--   3. Reconciling=True (pausing, resuming, waiting for CDC)  -> Progressing
--   4. Paused=True                                            -> Suspended
--   5. Ready=True                                             -> Healthy
--      (also while CaughtUp=False after a resume: the job runs as its spec
--      asks and only has a backlog to read; the message says so)
--   6. Ready=False                                            -> Degraded
--   7. anything else (Ready missing or Unknown)               -> Progressing
-- Tested in tests/unit/test_argocd_health.py with a real Lua interpreter.

local hs = {}

local function find(conditions, t)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function message(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if observed == nil or observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local stalled = find(conditions, "Stalled")
local exceeded = find(conditions, "RetentionExceeded")
local reconciling = find(conditions, "Reconciling")
local paused = find(conditions, "Paused")
local ready = find(conditions, "Ready")
local caught_up = find(conditions, "CaughtUp")

if is_true(exceeded) then
  hs.status = "Degraded"
  hs.message = message(exceeded, "Retention exceeded: change events were lost")
  return hs
end
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = message(stalled, "Stalled")
  return hs
end
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = message(reconciling, "Reconciling")
  return hs
end
if is_true(paused) then
  hs.status = "Suspended"
  hs.message = message(paused, "Paused")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message(ready, "Ready")
  if caught_up ~= nil and caught_up.status == "False" then
    hs.message = hs.message .. "; " .. message(caught_up, "catching up")
  end
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = message(ready, "Not ready")
  return hs
end
hs.status = "Progressing"
hs.message = message(ready, "Waiting for the Ready condition")
return hs
