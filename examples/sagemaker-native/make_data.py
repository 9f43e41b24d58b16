"""Write the example's training channel: scikit-learn's digits as data/digits.csv (64 pixels, then the label).

From the repository root:  python examples/sagemaker-native/make_data.py
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

if __name__ == "__main__":
    digits = load_digits()
    target = Path(__file__).resolve().parent / "data"
    target.mkdir(exist_ok=True)
    np.savetxt(target / "digits.csv", np.column_stack([digits.data, digits.target]), delimiter=",", fmt="%g")
    print(f"wrote {target / 'digits.csv'} ({len(digits.target)} rows)")
