-- Argo CD health of a kubedet TrainingRun (resource.customizations.health.kubedet.io_TrainingRun).
-- Healthy once it trained its model; Degraded when it failed for good; Suspended while it is a
-- draft or paused; Progressing otherwise, with the condition that says what it waits for.
local hs = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the kubedet operator to observe the run"
  return hs
end

local status = obj.status
local conditions = status.conditions
if status.phase == "Succeeded" then
  hs.status = "Healthy"
  if status.trainedModelRef ~= nil then
    hs.message = "trained model " .. status.trainedModelRef.name
  else
    hs.message = "training succeeded"
  end
  return hs
end

if status.phase == "Failed" then
  hs.status = "Degraded"
  local failed = condition(conditions, "Failed")
  if failed ~= nil then
    hs.message = describe(failed)
  else
    hs.message = "training failed"
  end
  if status.errorConfigMapRef ~= nil then
    hs.message = hs.message .. " (details in ConfigMap " .. status.errorConfigMapRef.name .. ")"
  end
  return hs
end

-- Succeeded and Failed are terminal: later spec edits (allowed fields only) change nothing, and
-- the operator records nothing more. Before that, a status written for an older spec says
-- nothing about the current one.
if status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "the operator has not yet observed generation " .. obj.metadata.generation
  return hs
end

local suspended = condition(conditions, "Suspended")
if suspended ~= nil and suspended.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(suspended)
  return hs
end

hs.status = "Progressing"
-- Report the most advanced step that is not done yet, so the UI says what the run waits for.
local validated = condition(conditions, "Validated")
if validated ~= nil and validated.status ~= "True" then
  hs.message = describe(validated)
  return hs
end
local running = condition(conditions, "Running")
if status.phase == "Running" and status.progress ~= nil and status.progress.percent ~= nil then
  hs.message = "training: " .. status.progress.percent .. "%"
  return hs
end
if running ~= nil and running.status == "True" then
  hs.message = describe(running)
  return hs
end
local scheduled = condition(conditions, "Scheduled")
if scheduled ~= nil then
  hs.message = describe(scheduled)
  return hs
end
hs.message = "phase " .. status.phase
return hs
