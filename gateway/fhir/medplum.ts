// The single doorway to @medplum/core: the WebSocket shim must evaluate before the library does.
import './websocket-shim.ts';

export {
  validateResource,
  indexStructureDefinitionBundle,
  loadDataType,
  OperationOutcomeError,
} from '@medplum/core';
