/** OpenAPI 3.1 description of the case API (src/http/caseApi.ts), served at `/api/v1/openapi.json`. */
const error = { $ref: '#/components/schemas/Error' };
const caseState = { $ref: '#/components/schemas/CaseState' };
const refusals = {
  400: { description: 'INVALID_ACTION, INVALID_BODY, INVALID_QUERY', content: { 'application/json': { schema: error } } },
  401: { description: 'UNAUTHENTICATED: no or unknown bearer token', content: { 'application/json': { schema: error } } },
  403: { description: 'FORBIDDEN: the role does not allow it', content: { 'application/json': { schema: error } } },
  503: { description: 'AUDIT_UNAVAILABLE: the call could not be audited', content: { 'application/json': { schema: error } } },
};

export const CASE_API_OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Reconciliation cases', version: '1', description: 'Work the exceptions the engine raises: every call is audited (docs/cases.md).' },
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/cases': {
      get: {
        summary: 'The exception queue, by discrepancy id, a page at a time',
        parameters: [
          { name: 'status', in: 'query', schema: { enum: ['open', 'resolved', 'all'], default: 'open' } },
          { name: 'kind', in: 'query', schema: { type: 'string' } },
          { name: 'account', in: 'query', schema: { type: 'string' } },
          { name: 'minAmount', in: 'query', description: 'Minor units', schema: { type: 'string', pattern: '^[0-9]+$' } },
          { name: 'cursor', in: 'query', description: 'nextCursor of the previous page', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        ],
        responses: {
          200: { description: 'A page of cases', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array' }, nextCursor: { type: ['string', 'null'] } } } } } },
          ...refusals,
        },
      },
    },
    '/api/v1/aml/alerts': {
      get: {
        summary: "The AML analysts' queue: alerts with the bank customers they name, open until disposed of",
        parameters: [
          { name: 'status', in: 'query', schema: { enum: ['open', 'disposed', 'all'], default: 'open' } },
          { name: 'rule', in: 'query', schema: { type: 'string' } },
          { name: 'customer', in: 'query', description: "A bank account id among the alert's customers", schema: { type: 'string' } },
          { name: 'cursor', in: 'query', description: 'nextCursor of the previous page', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        ],
        responses: {
          200: { description: 'A page of alerts', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array' }, nextCursor: { type: ['string', 'null'] } } } } } },
          ...refusals,
        },
      },
    },
    '/api/v1/cases/{id}': {
      get: {
        summary: 'A case: its discrepancy or AML alert (the evidence), its state and its history',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { 200: { description: 'The case' }, 404: { description: 'NOT_FOUND', content: { 'application/json': { schema: error } } }, ...refusals },
      },
    },
    '/api/v1/matches': {
      post: {
        summary: 'Match two open legs by hand (operator): atomic against the stream; the stream never matches them again. 409 REFUSED when a leg is no longer open',
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['bankLegId', 'chainLegId'],
                properties: { bankLegId: { type: 'string' }, chainLegId: { type: 'string' }, text: { type: 'string', maxLength: 2000 } },
              },
            },
          },
        },
        responses: { '200': { description: 'Matched (or the stored outcome)' }, '403': { description: 'Not an operator' }, '409': { description: 'Refused, with the reason' } },
      },
    },
    '/api/v1/matches/{id}/unmatch': {
      post: {
        summary: 'Undo a match (operator): both legs wait again (a closed window re-opens its discrepancy); no rule pairs them again',
        parameters: [{ name: 'id', in: 'path', required: true, description: '`match:<bank leg id>|<chain leg id>`', schema: { type: 'string' } }],
        responses: { '200': { description: 'Unmatched (or the stored outcome)' }, '403': { description: 'Not an operator' }, '409': { description: 'Not a match the engine holds' } },
      },
    },
    '/api/v1/proposals/{id}/{decision}': {
      post: {
        summary: 'Confirm or reject a proposed pair (operator): at most once; deciding again returns the stored decision (replayed)',
        parameters: [
          { name: 'id', in: 'path', required: true, description: '`proposal:<bank leg id>|<chain leg id>`', schema: { type: 'string' } },
          { name: 'decision', in: 'path', required: true, schema: { type: 'string', enum: ['confirm', 'reject'] } },
        ],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { text: { type: 'string', maxLength: 2000 } } } } } },
        responses: {
          '200': { description: 'Decided (or the stored decision)' },
          '403': { description: 'Not an operator' },
          '404': { description: 'No such proposal' },
          '409': { description: 'Superseded, or already decided the other way' },
        },
      },
    },
    '/api/v1/cases/{id}/actions': {
      post: {
        summary:
          'Act on a case (operator; approve and reject_request: approver, never the requester). An AML alert is acknowledged, assigned, commented and disposed of; only a discrepancy is matched, written off or adjusted',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'Idempotency-Key', in: 'header', description: 'The same key returns the first answer for 24 h', schema: { type: 'string', maxLength: 128 } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Action' } } } },
        responses: {
          200: { description: 'Applied', content: { 'application/json': { schema: { type: 'object', properties: { case: caseState, auditSeq: { type: 'integer' } } } } } },
          409: { description: 'ILLEGAL_TRANSITION, SELF_APPROVAL, NO_PENDING_REQUEST, IN_PROGRESS', content: { 'application/json': { schema: error } } },
          ...refusals,
        },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      CaseState: {
        type: 'object',
        properties: {
          caseId: { type: 'string' },
          status: { enum: ['open', 'acknowledged', 'assigned', 'resolved'] },
          assignee: { type: ['string', 'null'] },
          resolution: { enum: ['data', 'manual_match', 'write_off', 'adjustment', 'false_positive', 'escalated', 'reported', null] },
          pending: { type: ['object', 'null'] },
          version: { type: 'integer' },
        },
      },
      Action: {
        type: 'object',
        required: ['type'],
        properties: {
          type: { enum: ['acknowledge', 'assign', 'comment', 'manual_match', 'unmatch', 'request_write_off', 'request_adjustment', 'dispose', 'approve', 'reject_request'] },
          disposition: { enum: ['false_positive', 'escalated', 'reported'], description: 'dispose: how the AML alert is closed' },
          assignee: { type: 'string' },
          text: { type: 'string', maxLength: 4000 },
          legIds: { type: 'array', items: { type: 'string' } },
          requestId: { type: 'string' },
          amountMinor: { type: 'string', pattern: '^[1-9][0-9]*$' },
          currency: { type: 'string', pattern: '^[A-Z]{3}$' },
          reasonCode: { type: 'string' },
        },
      },
    },
  },
} as const;
