// Labelled select, text and checkbox fields in the style of NumberField.
import { useId, type ReactNode } from 'react';

interface Option<T extends string> {
  value: T;
  label: string;
  disabled?: boolean;
}

export function SelectField<T extends string>({ label, value, options, onChange, disabled, title }: {
  label: string;
  value: T;
  options: readonly Option<T>[];
  onChange: (v: T) => void;
  disabled?: boolean;
  title?: string;
}) {
  const id = useId();
  return (
    <div className="field" title={title}>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => <option key={o.value} value={o.value} disabled={o.disabled}>{o.label}</option>)}
      </select>
    </div>
  );
}

export function TextField({ label, value, onChange, disabled, placeholder, title, invalid }: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  disabled?: boolean;
  placeholder?: string;
  title?: string;
  invalid?: boolean;
}) {
  const id = useId();
  return (
    <div className="field" title={title}>
      <label htmlFor={id}>{label}</label>
      <input id={id} type="text" value={value} disabled={disabled} placeholder={placeholder} aria-invalid={invalid || undefined}
        spellCheck={false} onChange={(e) => onChange(e.target.value)} />
    </div>
  );
}

export function CheckboxField({ label, checked, onChange, disabled, title }: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
  disabled?: boolean;
  title?: string;
}) {
  return (
    <label className="checkbox" title={title}>
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} /> {label}
    </label>
  );
}

/** A read-only value laid out like a field (e.g. k derived from the target L0). */
export function ReadOnlyField({ label, children, title }: { label: string; children: ReactNode; title?: string }) {
  const id = useId();
  return (
    <div className="field" title={title}>
      <span className="field-label" id={id}>{label}</span>
      <output className="readonly" aria-labelledby={id}>{children}</output>
    </div>
  );
}
