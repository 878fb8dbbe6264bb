/**
 * Who may do what with a case. Roles are cumulative: an operator can do what a viewer can, an
 * approver what an operator can, an admin everything. `system` is the engine itself (a case
 * resolved or re-opened by data), never a person.
 */
export type Role = 'viewer' | 'operator' | 'approver' | 'admin';

export interface Actor {
  /** Stable identifier of the person (or `system`), recorded on every action. */
  id: string;
  role: Role | 'system';
}

export const SYSTEM: Actor = { id: 'system', role: 'system' };

const RANK: Record<Role, number> = { viewer: 0, operator: 1, approver: 2, admin: 3 };

/** True when `actor` holds `role` or a higher one. The system actor holds none of the human roles. */
export function hasRole(actor: Actor, role: Role): boolean {
  return actor.role !== 'system' && RANK[actor.role] >= RANK[role];
}
