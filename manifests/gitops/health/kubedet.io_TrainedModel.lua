-- Argo CD health of a kubedet TrainedModel (resource.customizations.health.kubedet.io_TrainedModel).
-- Healthy when Ready (and Published, if spec.published asks for it); Degraded when it failed;
-- Progressing while its training run has not finished or the operator has not looked at it yet.
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

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the kubedet operator to observe the model"
  return hs
end

local status = obj.status
if status.phase == "Failed" then
  hs.status = "Degraded"
  local ready = condition(status.conditions, "Ready")
  hs.message = "model failed"
  if ready ~= nil and ready.message ~= nil then
    hs.message = ready.reason .. ": " .. ready.message
  end
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready == nil or ready.status ~= "True" then
  hs.status = "Progressing"
  if ready ~= nil and ready.message ~= nil then
    hs.message = ready.reason .. ": " .. ready.message
  else
    hs.message = "not ready yet"
  end
  return hs
end

local wantsPublished = obj.spec ~= nil and obj.spec.published == true
local published = condition(status.conditions, "Published")
if wantsPublished and (published == nil or published.status ~= "True") then
  hs.status = "Progressing"
  hs.message = "ready, waiting to be published"
  return hs
end

hs.status = "Healthy"
if wantsPublished then
  hs.message = "published"
else
  hs.message = "ready"
end
return hs
